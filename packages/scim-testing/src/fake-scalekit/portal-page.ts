/**
 * The admin portal's HTML: one self-contained page (inline script and style, nothing fetched from
 * elsewhere) that posts Scalekit's portal messages (SCALEKIT.md §4) to `window.parent`. Tests
 * drive it with its buttons or `window.fakePortal.post(eventType)`; its timers post the session
 * warning and expiry on their own.
 */
import type { FakePortalMessage } from './portal-messages.js';

/** What the page's script reads from its embedded JSON. */
export interface PortalPageConfig {
  organizationId?: string;
  /** Posted as soon as the script runs. */
  onLoad: FakePortalMessage;
  /** Absent on a failure page. */
  session?: {
    /** `POST` here with `{ event_type }` to toggle SSO or the directory; answers the message to post. */
    actionPath: string;
    /** ISO end of the session. */
    expiry: string;
    /** Milliseconds from page load to `PORTAL_SESSION_WARNING`. */
    warningInMs: number;
    /** Milliseconds from page load to `PORTAL_SESSION_EXPIRY`. */
    expiryInMs: number;
  };
  /** `null`: post with target origin `'*'`. */
  allowedOrigins: readonly string[] | null;
}

export interface PortalPageView {
  title: string;
  organizationName?: string;
  directory?: { id: string; provider: string; enabled: boolean };
  sso?: { id: string; provider: string; enabled: boolean };
}

/** `Content-Security-Policy` of every portal page: nothing external, framed only by the allowed origins if given. */
export function portalContentSecurityPolicy(allowedOrigins: readonly string[] | null): string {
  const policy = [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
  ];
  if (allowedOrigins) policy.push(`frame-ancestors ${allowedOrigins.length > 0 ? allowedOrigins.join(' ') : "'none'"}`);
  return policy.join('; ');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that cannot close the `<script>` element it sits in. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

// Runs in the browser: plain ES2017, no template literals (this file is one).
const SCRIPT = `
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('fake-portal-config').textContent);
  var sent = [];
  var statusEl = document.querySelector('[data-testid="portal-status"]');
  var logEl = document.querySelector('[data-testid="portal-log"]');
  var SERVER_EVENTS = ['ORGANIZATION_SSO_ENABLED', 'ORGANIZATION_SSO_DISABLED',
    'ORGANIZATION_DIRECTORY_ENABLED', 'ORGANIZATION_DIRECTORY_DISABLED'];

  function targetOrigins() {
    var allowed = config.allowedOrigins;
    if (!allowed) return ['*'];
    var ancestor = (location.ancestorOrigins && location.ancestorOrigins[0]) || '';
    if (!ancestor && document.referrer) {
      try { ancestor = new URL(document.referrer).origin; } catch (e) { ancestor = ''; }
    }
    return allowed.indexOf(ancestor) >= 0 ? [ancestor] : allowed;
  }

  function deliver(message) {
    sent.push(message);
    if (logEl) logEl.textContent += JSON.stringify(message) + '\\n';
    targetOrigins().forEach(function (origin) { window.parent.postMessage(message, origin); });
    return message;
  }

  function portalMessage(eventType, message, data) {
    var m = { event_type: eventType, object: 'portal' };
    if (config.organizationId) m.organization_id = config.organizationId;
    m.message = message;
    m.data = data;
    return m;
  }

  function setStatus(text) { if (statusEl) statusEl.textContent = text; }

  function showToggle(kind, enabled) {
    var el = document.querySelector('[data-testid="' + kind + '-state"]');
    if (el) el.textContent = enabled ? 'enabled' : 'disabled';
  }

  function post(eventType) {
    var session = config.session;
    if (SERVER_EVENTS.indexOf(eventType) >= 0) {
      if (!session) return Promise.reject(new Error('no portal session: this link failed to load'));
      return fetch(session.actionPath, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: eventType })
      }).then(function (response) {
        return response.json().then(function (body) {
          if (response.ok) {
            showToggle(body.object === 'directory' ? 'directory' : 'sso', body.data.enabled);
            return deliver(body);
          }
          if (body.error_code === 'SESSION_EXPIRED') expire();
          throw new Error(body.error_description || ('portal action failed: ' + response.status));
        });
      });
    }
    var expiry = session ? session.expiry : undefined;
    switch (eventType) {
      case 'PORTAL_LOAD_SUCCESS':
        return Promise.resolve(deliver(portalMessage(eventType, 'Portal loaded', { expiry: expiry })));
      case 'PORTAL_LOAD_FAILURE':
        return Promise.resolve(deliver(portalMessage(eventType, 'Session expired', { error_code: 'SESSION_EXPIRED' })));
      case 'PORTAL_SESSION_WARNING':
        setStatus('Session expires soon');
        return Promise.resolve(deliver(portalMessage(eventType, 'Session expires in 5 minutes', { expiry: expiry })));
      case 'PORTAL_SESSION_EXPIRY':
        setStatus('Session expired');
        return Promise.resolve(deliver(portalMessage(eventType, 'Session expired', { expiry: expiry })));
      default:
        return Promise.reject(new Error('unknown portal event type: ' + eventType));
    }
  }

  var expired = false;
  function expire() {
    if (expired) return;
    expired = true;
    post('PORTAL_SESSION_EXPIRY');
    document.querySelectorAll('button[data-action]').forEach(function (b) { b.disabled = true; });
  }

  window.fakePortal = { post: post, sent: sent, config: config };

  document.querySelectorAll('button[data-event]').forEach(function (button) {
    button.addEventListener('click', function () {
      post(button.getAttribute('data-event')).catch(function (error) { setStatus(String(error.message || error)); });
    });
  });

  deliver(config.onLoad);
  var session = config.session;
  // setTimeout fires at once for delays past 2^31 - 1 ms (24.8 days): such sessions get no timer.
  var MAX_DELAY = 2147483647;
  if (session && session.warningInMs <= MAX_DELAY) {
    setTimeout(function () { if (!expired) post('PORTAL_SESSION_WARNING'); }, session.warningInMs);
  }
  if (session && session.expiryInMs <= MAX_DELAY) setTimeout(expire, session.expiryInMs);
})();
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #1f2933; }
h1 { font-size: 18px; margin: 0 0 12px; }
section { border: 1px solid #cbd2d9; border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; }
button { margin-right: 6px; }
pre { font-size: 11px; background: #f5f7fa; padding: 6px; white-space: pre-wrap; }
`;

function toggleSection(
  kind: 'sso' | 'directory',
  label: string,
  view: { id: string; provider: string; enabled: boolean } | undefined,
): string {
  const prefix = kind === 'sso' ? 'ORGANIZATION_SSO' : 'ORGANIZATION_DIRECTORY';
  const id = view ? escapeHtml(view.id) : 'none yet';
  const state = view?.enabled ? 'enabled' : 'disabled';
  return `<section>
  <h2>${label}</h2>
  <p><span data-testid="${kind}-id">${id}</span> (${escapeHtml(view?.provider ?? 'OKTA')}):
    <strong data-testid="${kind}-state">${state}</strong></p>
  <button type="button" data-action data-testid="enable-${kind}" data-event="${prefix}_ENABLED">Enable ${label}</button>
  <button type="button" data-action data-testid="disable-${kind}" data-event="${prefix}_DISABLED">Disable ${label}</button>
</section>`;
}

/** The whole page: a working portal when `config.session` is set, a failure page otherwise. */
export function renderPortalPage(view: PortalPageView, config: PortalPageConfig): string {
  const body = config.session
    ? `${toggleSection('sso', 'SSO', view.sso)}
${toggleSection('directory', 'Directory sync', view.directory)}
<section>
  <h2>Session</h2>
  <p>Ends <time data-testid="session-expiry-time">${escapeHtml(config.session.expiry)}</time></p>
  <button type="button" data-testid="session-warning" data-event="PORTAL_SESSION_WARNING">Post session warning</button>
  <button type="button" data-testid="session-expiry" data-event="PORTAL_SESSION_EXPIRY">Post session expiry</button>
</section>`
    : '';
  const organization = view.organizationName
    ? `<p>Organization <span data-testid="organization-name">${escapeHtml(view.organizationName)}</span></p>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(view.title)}</title>
<style>${STYLE}</style>
</head>
<body data-testid="fake-portal">
<h1>${escapeHtml(view.title)}</h1>
${organization}
<p data-testid="portal-status">${config.session ? 'Portal loaded' : escapeHtml(config.onLoad.message)}</p>
${body}
<pre data-testid="portal-log"></pre>
<script type="application/json" id="fake-portal-config">${scriptJson(config)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
