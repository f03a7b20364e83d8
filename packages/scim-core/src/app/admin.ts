/**
 * The customer's IT admin configures SSO and SCIM inside the app: `GET /settings` embeds Scalekit's
 * admin portal through `@org/scim-portal`, which asks `GET /api/admin-portal/link` for a fresh
 * single-use link. Framework-agnostic: each example maps these answers onto its own responses.
 *
 * Who may manage which organization is the app's own business: the `authorize` hook each example
 * passes (see `authorize.ts`). The examples have no user accounts, so `DEMO_LOGIN=1` turns on
 * `/login`, a form that signs you in as the admin of the organization you type, in a signed, expiring
 * session cookie that `/logout` revokes (`session.ts`). **Demo only**: a real app's `authorize` reads
 * its own session (`req.user.organizationId`, a JWT claim…) and never trusts an organization id from
 * the browser.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  createPortalLinkHandler,
  type OrganizationHealth,
  type PortalAuthorization,
  type PortalLinkHandler,
  type PortalLinkResponse,
} from '../index.js';
import type { AccessView } from './access.js';
import type { AdminDirectory } from './admin-api.js';
import { type Authorize, organizationFor } from './authorize.js';
import type { AppConfig } from './config.js';
import { escapeHtml } from './html.js';
import { checkAdminOptions } from './options.js';
import { isCrossSite, isHttps, type RequestView } from './request.js';
import { rolesPanel } from './roles-panel.js';
import type { ScalekitApi } from './scalekit.js';
import { logServerError, type ServerErrorHook } from './server-errors.js';
import { createSessions, ORGANIZATION_ID } from './session.js';

export const PORTAL_LINK_PATH = '/api/admin-portal/link';
export const PORTAL_SCRIPT_PATH = '/assets/scim-portal.js';

/** A page or redirect, for the example to send as is. */
export interface PageAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface Admin {
  /**
   * The demo's `authorize`: the organization of the request's live demo session, `null` when nobody
   * is signed in (or the cookie is expired, revoked, forged or malformed).
   */
  signedIn(request: RequestView): string | null;
  /** The portal-link route, asking `authorize` who may have a link. */
  portalLinks<R>(authorize: Authorize<R>): PortalLinkHandler<R>;
  /** `GET /login`. */
  loginPage(): PageAnswer;
  /** `POST /login` with the form's `application/x-www-form-urlencoded` body; 403 from another site. */
  login(form: string, request: RequestView): PageAnswer;
  /** `POST /logout`: ends the session for good; 403 from another site. */
  logout(request: RequestView): PageAnswer;
  /** `GET /settings` for what `authorize` answered: the page, or a redirect to `/login` when signed out. */
  settingsPage(authorization: PortalAuthorization, request: RequestView): Promise<PageAnswer>;
  /** `GET /assets/scim-portal.js`: `@org/scim-portal`'s self-contained ESM build. */
  portalScript(): PageAnswer;
}

const HTML = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } as const;

/** How many of the SCIM tokens provision `organizationId`. */
const tokenCount = (tokens: readonly { organizationId: string }[], organizationId: string) =>
  tokens.filter((token) => token.organizationId === organizationId).length;

/**
 * `@org/scim-portal`'s browser build (`dist/index.js`, one self-contained ES module), which the
 * examples serve as a static file. Found through its `package.json`: `require.resolve` of the package
 * itself would give the CommonJS build, which a browser cannot import. (Bundlers rewrite
 * `require.resolve`: the Next.js example passes its own `portalScript`.)
 */
export function readPortalScript(): string {
  const manifest = createRequire(import.meta.url).resolve('@org/scim-portal/package.json');
  return readFileSync(join(dirname(manifest), 'dist', 'index.js'), 'utf8');
}

export interface AdminOptions {
  /** What `loadConfig()` read: the SCIM server's settings (for the page), the demo sign-in and its sessions. */
  config: Pick<AppConfig, 'scim' | 'demoLogin' | 'sessionSecret' | 'sessionTtlSeconds'>;
  /** The app's users and groups of an organization, for the settings page's counts. */
  users: Pick<AdminDirectory, 'listUsers' | 'listGroups'>;
  /** `await openScalekit(config)`: the portal-link route's client, or the variables it still needs (503). */
  scalekit: ScalekitApi;
  /** The source of `@org/scim-portal`'s `dist/index.js`. Default `readPortalScript`. */
  portalScript?: () => string;
  /** Every 5xx the portal-link route answers, with its cause. Default `logServerError`. */
  onServerError?: ServerErrorHook;
  /**
   * The organization's provisioning health for the page's panel: pass `engine.health`. Without it
   * the page has no health panel.
   */
  health?: (organizationId: string) => Promise<OrganizationHealth>;
  /**
   * The organization's role mapping for the page's roles card (its groups with the app roles each
   * grants, and the default roles): pass `accessView(engine, config)`. Without it the page has no
   * roles card.
   */
  access?: (organizationId: string) => Promise<AccessView>;
}

export function createAdmin(options: AdminOptions): Admin {
  checkAdminOptions(options);
  const { config, users, scalekit } = options;
  let portalSource: string | undefined;
  const onServerError = options.onServerError ?? logServerError;
  const sessions = createSessions({ secret: config.sessionSecret, ttlSeconds: config.sessionTtlSeconds });

  const page = (status: number, title: string, main: string): PageAnswer => ({
    status,
    headers: { ...HTML },
    body: `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header, main { max-width: 980px; margin: 0 auto; padding: 16px 24px; }
  header { display: flex; justify-content: space-between; align-items: center; }
  h1 { font-size: 20px; margin: 0; }
  .card { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 16px 20px; margin-bottom: 16px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
  dt { color: #5b6576; }
  .banner { border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; background: #e6f6ec; border: 1px solid #9fd9b4; }
  .banner.warning { background: #fff6e0; border-color: #f0cf7a; }
  .banner.error { background: #fdecec; border-color: #f0a3a3; }
  button, input { font: inherit; padding: 6px 12px; }
  table { border-collapse: collapse; width: 100%; margin: 12px 0 0; }
  caption { text-align: left; color: #5b6576; padding-bottom: 4px; }
  th, td { text-align: left; padding: 4px 8px; border-top: 1px solid #eef0f3; overflow-wrap: anywhere; }
</style>
</head>
<body>
${main}
</body>
</html>
`,
  });

  const crossSitePage = () =>
    page(
      403,
      'Refused',
      '<main><p>This form was sent from another site. Sign in and out from this app’s own pages. <a href="/login">Sign in</a></p></main>',
    );

  return {
    signedIn: (request) => sessions.organizationOf(request.header('cookie')),

    portalLinks<R>(authorize: Authorize<R>): PortalLinkHandler<R> {
      if ('missing' in scalekit) {
        // Core's 503 code, naming the variables to set, as `/api/sync` does without them.
        const code = 'scalekit_unavailable';
        const message = `The admin portal needs ${scalekit.missing.join(', ')}: set Scalekit's API credentials and restart.`;
        const answer: PortalLinkResponse = {
          status: 503,
          headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
          body: { error: { code, message } },
        };
        return {
          respond: async () => {
            onServerError({ route: `GET ${PORTAL_LINK_PATH}`, status: 503, code, message });
            return answer;
          },
        };
      }
      return createPortalLinkHandler<R>({
        client: scalekit.client,
        authorize,
        onError: ({ status, code, message, organizationId, error }) => {
          if (status < 500) return;
          const where = organizationId === undefined ? '' : ` (organization ${organizationId})`;
          onServerError({ route: `GET ${PORTAL_LINK_PATH}`, status, code, message: message + where, cause: error });
        },
      });
    },

    loginPage() {
      if (!config.demoLogin) {
        return page(
          404,
          'Sign-in is not enabled',
          '<main><p>This example has no user accounts. Start it with <code>DEMO_LOGIN=1</code> to sign in as the admin of any organization (for trying it out only), or wire <code>authorize</code> to your own sessions.</p></main>',
        );
      }
      return page(
        200,
        'Sign in (demo)',
        `<main><div class="card"><h1>Sign in as an organization's admin (demo)</h1>
<p>Demo only: you become the admin of whichever organization you name. A real app uses its own sign-in.</p>
<form method="post" action="/login">
  <label>Organization id <input name="organization_id" required pattern="[A-Za-z0-9_-]{1,64}" placeholder="org_…" data-testid="organization-id"></label>
  <button type="submit" data-testid="sign-in">Sign in</button>
</form></div></main>`,
      );
    },

    login(form, request) {
      if (!config.demoLogin) return this.loginPage();
      // Another site could otherwise sign the admin into its own organization (login CSRF).
      if (isCrossSite(request)) return crossSitePage();
      const organizationId = new URLSearchParams(form).get('organization_id')?.trim() ?? '';
      if (!ORGANIZATION_ID.test(organizationId)) {
        return page(
          400,
          'Sign in (demo)',
          '<main><p>Give an organization id such as <code>org_123</code>. <a href="/login">Back</a></p></main>',
        );
      }
      return {
        status: 303,
        headers: {
          location: '/settings',
          'set-cookie': sessions.start(organizationId, isHttps(request)),
          'cache-control': 'no-store',
        },
        body: '',
      };
    },

    logout(request) {
      if (isCrossSite(request)) return crossSitePage();
      return {
        status: 303,
        headers: {
          location: '/login',
          'set-cookie': sessions.end(request.header('cookie'), isHttps(request)),
          'cache-control': 'no-store',
        },
        body: '',
      };
    },

    async settingsPage(authorization, request) {
      const access = organizationFor(authorization, request.url);
      if ('refused' in access) {
        if (access.refused.status === 401) {
          return { status: 303, headers: { location: '/login', 'cache-control': 'no-store' }, body: '' };
        }
        const { error } = access.refused.body as { error: { message: string } };
        return page(
          access.refused.status,
          'SSO and directory sync',
          `<main><p>${escapeHtml(error.message)}</p></main>`,
        );
      }
      const { organizationId } = access;
      const [people, groups, health, mapping] = await Promise.all([
        users.listUsers(organizationId),
        users.listGroups(organizationId),
        options.health?.(organizationId),
        options.access?.(organizationId),
      ]);
      const active = people.filter((user) => user.active).length;
      const scim = config.scim;
      const scimEndpoint =
        'missing' in scim
          ? `not configured (set SCIM_TOKENS, or ${scim.missing.join(' and ')})`
          : tokenCount(scim.tokens, organizationId) > 0
            ? `/scim/v2 (${tokenCount(scim.tokens, organizationId)} bearer token(s) configured)`
            : 'no token for this organization (add one to SCIM_TOKENS)';
      const org = escapeHtml(organizationId);
      return page(
        200,
        `SSO and directory sync · ${organizationId}`,
        `<header><h1>SSO and directory sync</h1>
<form method="post" action="/logout"><span>Admin of <strong data-testid="organization">${org}</strong></span> <button type="submit">Sign out</button></form></header>
<main>
<div id="banner" class="banner" role="status" data-testid="banner" hidden></div>
<section class="card" aria-labelledby="status-title">
  <h2 id="status-title">SCIM status</h2>
  <dl>
    <dt>Directory</dt><dd data-testid="directory-status">unknown until the portal loads</dd>
    <dt>Single sign-on</dt><dd data-testid="sso-status">unknown until the portal loads</dd>
    <dt>Provisioned users</dt><dd data-testid="user-count">${active} active of ${people.length}</dd>
    <dt>Groups</dt><dd data-testid="group-count">${groups.length}</dd>
    <dt>SCIM endpoint</dt><dd data-testid="scim-endpoint">${escapeHtml(scimEndpoint)}</dd>
    <dt>Portal session</dt><dd data-testid="portal-session">loading…</dd>
  </dl>
</section>
${health ? healthPanel(health) : ''}
${mapping ? rolesPanel(mapping) : ''}
<section class="card" aria-label="Admin portal"><div id="portal" data-testid="portal"></div></section>
</main>
<script type="module">
${settingsScript(`${PORTAL_LINK_PATH}?organization_id=${encodeURIComponent(organizationId)}`)}
</script>`,
      );
    },

    portalScript() {
      portalSource ??= (options.portalScript ?? readPortalScript)();
      return {
        status: 200,
        headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' },
        body: portalSource,
      };
    },
  };
}

const duration = (ms: number) =>
  Math.abs(ms) < 1_000
    ? `${ms} ms`
    : Math.abs(ms) < 120_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.round(ms / 60_000)} min`;

/** A run's line: its status, when it finished, how long it took, and its non-zero counts. */
function runLine(run: OrganizationHealth['reconciliation']): string {
  if (run.running) return 'running now';
  const last = run.last;
  if (!last) return 'never';
  const counts = Object.entries(last.counts)
    .filter(([, count]) => count > 0)
    .slice(0, 8)
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  const error = last.error ? `: ${last.error.code}, ${last.error.message}` : '';
  return `${last.status} at ${last.finishedAt} in ${duration(last.durationMs)}${counts ? ` (${counts})` : ''}${error}`;
}

/** The health card: server-rendered, every value escaped (messages come from handlers and the store). */
function healthPanel(health: OrganizationHealth): string {
  const { webhooks, failures, inbox } = health;
  const received = webhooks.lastReceived
    ? `${webhooks.lastReceived.at} (${webhooks.lastReceived.outcome}, ${webhooks.lastReceived.eventId})`
    : 'none yet';
  const applied = webhooks.lastApplied
    ? `${webhooks.lastApplied.at} (${webhooks.lastApplied.eventId})${
        webhooks.lagMs === undefined ? '' : `, ${duration(webhooks.lagMs)} after it happened`
      }`
    : 'none yet';
  const failed = failures.last
    ? `${failures.last24h}; the last at ${failures.last.at}: ${failures.last.code} on ${failures.last.eventId}, ${failures.last.message}`
    : String(failures.last24h);
  const row = (label: string, id: string, value: string) =>
    `<dt>${label}</dt><dd data-testid="${id}">${escapeHtml(value)}</dd>`;
  return `<section class="card" aria-labelledby="health-title">
  <h2 id="health-title">Provisioning health</h2>
  <dl>
    ${row('Last webhook received', 'health-last-received', received)}
    ${row('Last webhook applied', 'health-last-applied', applied)}
    ${row('Last reconciliation', 'health-reconciliation', runLine(health.reconciliation))}
    ${row('Last backfill', 'health-backfill', runLine(health.backfill))}
    ${row('Failures in 24 hours', 'health-failures', failed)}
    ${inbox ? row('Inbox', 'health-inbox', `${inbox.depth} queued, ${inbox.deadLetters} dead letters`) : ''}
  </dl>
</section>`;
}

/**
 * The page's own script: plain JavaScript in the page (no build step), mounting the portal and
 * reflecting its events. Filled in from `@org/scim-portal`'s API. `linkUrl` is percent-encoded, so
 * it holds no quote or `<` to break out of the string or the script.
 */
const settingsScript = (linkUrl: string) => `import { mountAdminPortal } from '${PORTAL_SCRIPT_PATH}';

const field = (id) => document.querySelector('[data-testid="' + id + '"]');
const banner = field('banner');
function announce(text, kind) {
  banner.textContent = text;
  banner.className = 'banner' + (kind ? ' ' + kind : '');
  banner.hidden = false;
}
const state = (enabled, data) => (enabled ? 'enabled' : 'disabled') + (data.provider ? ' (' + data.provider + ')' : '');

window.adminPortal = mountAdminPortal(document.getElementById('portal'), {
  linkUrl: ${JSON.stringify(linkUrl)},
  height: 640,
  title: 'Scalekit admin portal: single sign-on and directory sync',
  onEvent(event) {
    switch (event.type) {
      case 'ORGANIZATION_DIRECTORY_ENABLED':
        field('directory-status').textContent = state(true, event.data);
        announce('Directory sync is on: users and groups from your identity provider will be provisioned here.');
        break;
      case 'ORGANIZATION_DIRECTORY_DISABLED':
        field('directory-status').textContent = state(false, event.data);
        announce('Directory sync is off: no more users or groups will be provisioned.', 'warning');
        break;
      case 'ORGANIZATION_SSO_ENABLED':
      case 'ORGANIZATION_SSO_DISABLED':
        field('sso-status').textContent = state(event.data.enabled, event.data) + ', ' + event.data.type;
        break;
      case 'PORTAL_LOAD_SUCCESS':
        field('portal-session').textContent = event.expiry ? 'open until ' + event.expiry.toLocaleString() : 'open';
        break;
      case 'PORTAL_SESSION_WARNING':
        announce('The portal session ends in about five minutes; it reopens by itself.', 'warning');
        break;
      case 'PORTAL_SESSION_EXPIRY':
        field('portal-session').textContent = 'expired: opening a new session…';
        break;
      case 'PORTAL_LOAD_FAILURE':
        field('portal-session').textContent = 'failed to load (' + event.data.error_code + ')';
        break;
    }
  },
  onError(error) {
    field('portal-session').textContent = 'unavailable';
    announce('The admin portal could not be opened: ' + error.message, 'error');
  },
});`;
