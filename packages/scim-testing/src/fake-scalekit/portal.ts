/**
 * The admin portal: `GeneratePortalLink` issues single-use links to `GET /portal/<token>` on the
 * fake's own origin. A link opens once, within its TTL, and starts a session; the page it serves
 * toggles SSO and the organization's directory through `POST /portal/session/<session token>`, so
 * the fake's state (and its webhook queue) already reflects a change when the message reaches the
 * embedding app.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { FakeScalekitError } from './errors.js';
import { type HttpRoute, type HttpRoutes, readBody, sendJson } from './http-routes.js';
import {
  type FakePortalDirectoryMessage,
  type FakePortalErrorCode,
  type FakePortalSsoMessage,
  loadFailureMessage,
  loadSuccessMessage,
} from './portal-messages.js';
import { type PortalPageView, portalContentSecurityPolicy, renderPortalPage } from './portal-page.js';
import type { DirectoryRecord } from './records.js';
import { type DirectoryState, scalekitId } from './state.js';
import type { FakeScalekitStats } from './stats.js';

/** A portal link as a test reads it back from `fake.portalLinks()`. */
export interface FakePortalLink {
  /** The `Link.id` the SDK returned. */
  id: string;
  organizationId: string;
  /** `<fake.url>/portal/<token>`: what goes in the iframe's `src`. */
  location: string;
  issuedAt: Date;
  /** `issuedAt` + `portalLinkTtlSeconds`: the link's `expireTime`. */
  expiresAt: Date;
  /** When the link was opened; it opens once. */
  usedAt?: Date;
  /** `usedAt` + `portalSessionTtlSeconds`. */
  sessionExpiresAt?: Date;
}

export interface PortalOptions {
  state: DirectoryState;
  stats: FakeScalekitStats;
  now: () => number;
  baseUrl: () => string;
  linkTtlSeconds: number;
  sessionTtlSeconds: number;
  allowedOrigins: readonly string[] | undefined;
}

interface LinkRecord {
  id: string;
  organizationId: string;
  token: string;
  issuedAt: number;
  expiresAt: number;
  usedAt?: number;
  session?: { token: string; expiresAt: number };
}

interface SsoConnection {
  id: string;
  provider: string;
  enabled: boolean;
}

const WARNING_BEFORE_EXPIRY_MS = 5 * 60 * 1000;

function secondsOption(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new FakeScalekitError('invalid_input', `${name} must be a positive number of seconds, got ${value}`);
  return value * 1000;
}

/** Each entry reduced to its origin; anything that is not an http(s) origin throws. */
function parseOrigins(values: readonly string[]): string[] {
  return values.map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new FakeScalekitError('invalid_input', `portalAllowedOrigins: ${value} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new FakeScalekitError('invalid_input', `portalAllowedOrigins: ${value} is not an http(s) origin`);
    return url.origin;
  });
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

export class PortalLinks {
  readonly #options: PortalOptions;
  readonly #linkTtlMs: number;
  readonly #sessionTtlMs: number;
  readonly #allowedOrigins: readonly string[] | null;
  readonly #links: LinkRecord[] = [];
  readonly #byToken = new Map<string, LinkRecord>();
  readonly #bySession = new Map<string, LinkRecord>();
  readonly #sso = new Map<string, SsoConnection>();

  constructor(options: PortalOptions) {
    this.#options = options;
    this.#linkTtlMs = secondsOption('portalLinkTtlSeconds', options.linkTtlSeconds);
    this.#sessionTtlMs = secondsOption('portalSessionTtlSeconds', options.sessionTtlSeconds);
    this.#allowedOrigins = options.allowedOrigins ? parseOrigins(options.allowedOrigins) : null;
  }

  /** A fresh link for an existing organization (the caller checks it exists). */
  issue(organizationId: string): { id: string; location: string; expiresAt: number } {
    const issuedAt = this.#options.now();
    const link: LinkRecord = {
      id: scalekitId('lnk'),
      organizationId,
      token: token(),
      issuedAt,
      expiresAt: issuedAt + this.#linkTtlMs,
    };
    this.#links.push(link);
    this.#byToken.set(link.token, link);
    this.#options.stats.portalLinksIssued += 1;
    return { id: link.id, location: this.#location(link), expiresAt: link.expiresAt };
  }

  list(): FakePortalLink[] {
    return this.#links.map((link) => ({
      id: link.id,
      organizationId: link.organizationId,
      location: this.#location(link),
      issuedAt: new Date(link.issuedAt),
      expiresAt: new Date(link.expiresAt),
      ...(link.usedAt !== undefined && { usedAt: new Date(link.usedAt) }),
      ...(link.session && { sessionExpiresAt: new Date(link.session.expiresAt) }),
    }));
  }

  /** `GET /portal/<token>` and `POST /portal/session/<session token>`. */
  routes(): HttpRoutes {
    return new Map<string, HttpRoute>([
      ['GET /portal/*', (request, response) => this.#open(lastSegment(request.url), response)],
      [
        'POST /portal/session/*',
        async (request, response) => {
          const body = await readBody(request);
          this.#act(lastSegment(request.url), body, response);
        },
      ],
    ]);
  }

  #location(link: LinkRecord): string {
    return `${this.#options.baseUrl()}/portal/${link.token}`;
  }

  #open(linkToken: string, response: ServerResponse): void {
    const now = this.#options.now();
    const link = this.#byToken.get(linkToken);
    if (!link) {
      this.#fail(response, 404, 'INVALID_LINK');
      return;
    }
    if (link.usedAt !== undefined || now >= link.expiresAt) {
      this.#fail(response, 410, 'SESSION_EXPIRED', link.organizationId);
      return;
    }

    link.usedAt = now;
    link.session = { token: token(), expiresAt: now + this.#sessionTtlMs };
    this.#bySession.set(link.session.token, link);
    this.#options.stats.portalSessionsOpened += 1;

    const organization = this.#options.state.organizations.get(link.organizationId);
    const directory = organization?.directories[0];
    const sso = this.#ssoOf(link.organizationId);
    const expiry = new Date(link.session.expiresAt).toISOString();
    const view: PortalPageView = {
      title: 'Admin portal (fake Scalekit)',
      organizationName: organization?.displayName ?? link.organizationId,
      sso,
      ...(directory && { directory }),
    };
    this.#sendPage(
      response,
      200,
      renderPortalPage(view, {
        organizationId: link.organizationId,
        onLoad: loadSuccessMessage(link.organizationId, expiry),
        session: {
          actionPath: `/portal/session/${link.session.token}`,
          expiry,
          warningInMs: Math.max(0, this.#sessionTtlMs - WARNING_BEFORE_EXPIRY_MS),
          expiryInMs: this.#sessionTtlMs,
        },
        allowedOrigins: this.#allowedOrigins,
      }),
    );
  }

  #fail(response: ServerResponse, status: number, code: FakePortalErrorCode, organizationId?: string): void {
    this.#options.stats.portalLinksRefused += 1;
    const onLoad = loadFailureMessage(code, organizationId);
    this.#sendPage(
      response,
      status,
      renderPortalPage(
        { title: 'Admin portal (fake Scalekit)' },
        { ...(organizationId !== undefined && { organizationId }), onLoad, allowedOrigins: this.#allowedOrigins },
      ),
    );
  }

  #sendPage(response: ServerResponse, status: number, html: string): void {
    response.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'content-security-policy': portalContentSecurityPolicy(this.#allowedOrigins),
    });
    response.end(html);
  }

  /** Toggles SSO or the directory for a live session and answers the message the page posts. */
  #act(sessionToken: string, body: string, response: ServerResponse): void {
    const link = this.#bySession.get(sessionToken);
    if (!link?.session) {
      sendJson(response, 404, { error_code: 'INVALID_SESSION', error_description: 'unknown portal session' });
      return;
    }
    if (this.#options.now() >= link.session.expiresAt) {
      sendJson(response, 401, { error_code: 'SESSION_EXPIRED', error_description: 'the portal session has ended' });
      return;
    }
    let eventType: unknown;
    try {
      eventType = (JSON.parse(body) as { event_type?: unknown }).event_type;
    } catch {
      eventType = undefined;
    }
    const organizationId = link.organizationId;
    switch (eventType) {
      case 'ORGANIZATION_SSO_ENABLED':
      case 'ORGANIZATION_SSO_DISABLED': {
        const sso = this.#ssoOf(organizationId);
        sso.enabled = eventType === 'ORGANIZATION_SSO_ENABLED';
        const message: FakePortalSsoMessage = {
          event_type: eventType,
          object: 'connection',
          organization_id: organizationId,
          message: sso.enabled ? 'SSO connection enabled' : 'SSO connection disabled',
          data: { connection_type: 'SSO', id: sso.id, type: 'OIDC', provider: sso.provider, enabled: sso.enabled },
        };
        sendJson(response, 200, message);
        return;
      }
      case 'ORGANIZATION_DIRECTORY_ENABLED':
      case 'ORGANIZATION_DIRECTORY_DISABLED': {
        const directory = this.#directoryOf(organizationId);
        this.#options.state.setDirectoryEnabled(directory, eventType === 'ORGANIZATION_DIRECTORY_ENABLED');
        const message: FakePortalDirectoryMessage = {
          event_type: eventType,
          object: 'directory',
          organization_id: organizationId,
          message: directory.enabled ? 'Directory sync enabled' : 'Directory sync disabled',
          data: { directory_type: 'SCIM', id: directory.id, provider: directory.provider, enabled: directory.enabled },
        };
        sendJson(response, 200, message);
        return;
      }
      default:
        sendJson(response, 400, {
          error_code: 'INVALID_EVENT',
          error_description: `event_type must toggle SSO or the directory, got ${JSON.stringify(eventType)}`,
        });
    }
  }

  /** The organization's SSO connection: one per organization, created disabled on first sight. */
  #ssoOf(organizationId: string): SsoConnection {
    let sso = this.#sso.get(organizationId);
    if (!sso) {
      sso = { id: scalekitId('conn'), provider: 'OKTA', enabled: false };
      this.#sso.set(organizationId, sso);
    }
    return sso;
  }

  /** The primary directory; an organization without one gets a disabled OKTA directory, as configuring SCIM in the portal would. */
  #directoryOf(organizationId: string): DirectoryRecord {
    const { state } = this.#options;
    const organization = state.organization(organizationId);
    if (organization.directories.length === 0) state.addDirectory(organizationId, { enabled: false });
    return state.directoryOf(organization);
  }
}

function lastSegment(url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  return path.slice(path.lastIndexOf('/') + 1);
}
