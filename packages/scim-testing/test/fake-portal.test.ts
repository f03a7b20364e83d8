/**
 * The fake Scalekit's admin portal: `generatePortalLink` through the real `@scalekit-sdk/node`
 * client, then real HTTP fetches of the single-use page, its session actions and its headers.
 * The page's inline script runs in a Node `vm` with a minimal DOM, posting through real `fetch`.
 */
import vm from 'node:vm';
import {
  ScalekitNotFoundException,
  type ScalekitServerException,
  ScalekitTooManyRequestsException,
  ScalekitUnauthorizedException,
} from '@scalekit-sdk/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakePortalMessage,
  type FakeScalekit,
  type FakeScalekitOptions,
  startFakeScalekit,
} from '../src/fake-scalekit.js';
import { rejection, sdkOf } from './sdk.js';

const START = Date.parse('2026-03-01T12:00:00.000Z');
const SIX_HOURS = 6 * 60 * 60 * 1000;

let fake: FakeScalekit;
let clock: number;
let org: string;
let dir: string;

async function start(options: FakeScalekitOptions = {}): Promise<void> {
  await fake?.close();
  fake = await startFakeScalekit({ now: () => clock, tokenTtlSeconds: 24 * 3600, ...options });
  org = fake.addOrganization({ displayName: 'Acme' }).id;
  dir = fake.addDirectory(org).id;
}

const sdk = () => sdkOf(fake);

interface PageConfig {
  organizationId?: string;
  onLoad: FakePortalMessage;
  session?: { actionPath: string; expiry: string; warningInMs: number; expiryInMs: number };
  allowedOrigins: string[] | null;
}

interface Page {
  status: number;
  headers: Headers;
  html: string;
  config: PageConfig;
  script: string;
}

async function open(location: string): Promise<Page> {
  const response = await fetch(location);
  const html = await response.text();
  const json = /<script type="application\/json" id="fake-portal-config">([^<]*)<\/script>/.exec(html)?.[1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (json === undefined || script === undefined) throw new Error(`not a portal page: ${html.slice(0, 200)}`);
  return { status: response.status, headers: response.headers, html, config: JSON.parse(json) as PageConfig, script };
}

async function act(page: Page, eventType: string): Promise<{ status: number; body: Record<string, unknown> }> {
  if (!page.config.session) throw new Error('the page has no session');
  const response = await fetch(`${fake.url}${page.config.session.actionPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event_type: eventType }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * Runs the page's script as a browser would, with just the DOM it touches: what it posts to
 * `window.parent` (and with which target origin), the timers it sets, and `window.fakePortal`.
 */
function runScript(page: Page, browser: { ancestorOrigin?: string } = {}) {
  const posted: { message: FakePortalMessage; targetOrigin: string }[] = [];
  const timers: { delay: number; run: () => void }[] = [];
  const window: Record<string, unknown> = {
    parent: {
      postMessage: (message: FakePortalMessage, targetOrigin: string) => posted.push({ message, targetOrigin }),
    },
  };
  const context = vm.createContext({
    window,
    document: {
      getElementById: () => ({ textContent: JSON.stringify(page.config) }),
      querySelector: () => null,
      querySelectorAll: () => [],
      referrer: '',
    },
    location: { ancestorOrigins: browser.ancestorOrigin ? [browser.ancestorOrigin] : [] },
    fetch: (path: string, init: RequestInit) => fetch(new URL(path, fake.url), init),
    setTimeout: (run: () => void, delay: number) => timers.push({ delay, run }),
    URL,
    JSON,
    Promise,
    Error,
    String,
  });
  vm.runInContext(page.script, context);
  const portal = window.fakePortal as { post(eventType: string): Promise<FakePortalMessage> };
  return { posted, timers, portal };
}

beforeEach(async () => {
  clock = START;
  await start();
});

afterEach(async () => {
  await fake.close();
});

describe('GeneratePortalLink through the real SDK', () => {
  it('returns a single link on the fake’s own origin, an unguessable token, expiring 60 s later', async () => {
    const link = await sdk().organization.generatePortalLink(org);

    const location = new URL(link.location);
    expect(location.origin).toBe(fake.url);
    expect(location.pathname).toMatch(/^\/portal\/[A-Za-z0-9_-]{43}$/);
    expect(link.id).toMatch(/^lnk_\d+$/);
    expect(link.expireTime?.seconds).toBe(BigInt((START + 60_000) / 1000));
    expect(link.expireTime?.nanos).toBe(0);

    expect(fake.portalLinks()).toEqual([
      {
        id: link.id,
        organizationId: org,
        location: link.location,
        issuedAt: new Date(START),
        expiresAt: new Date(START + 60_000),
      },
    ]);
    expect(fake.stats()).toMatchObject({ calls: { GeneratePortalLink: 2 }, unauthenticated: 1, portalLinksIssued: 1 });
  });

  it('hands out a different link on every call, each with its own token', async () => {
    const client = sdk();
    const first = await client.organization.generatePortalLink(org);
    const second = await client.organization.generatePortalLink(org);
    expect(second.id).not.toBe(first.id);
    expect(second.location).not.toBe(first.location);
    expect(fake.portalLinks()).toHaveLength(2);
  });

  it('honours portalLinkTtlSeconds in expireTime', async () => {
    await start({ portalLinkTtlSeconds: 5 });
    const link = await sdk().organization.generatePortalLink(org);
    expect(link.expireTime?.seconds).toBe(BigInt((START + 5_000) / 1000));
  });

  it('answers NotFound for an unknown organization, which the SDK throws as ScalekitNotFoundException', async () => {
    const error = await rejection(sdk().organization.generatePortalLink('org_missing'));
    expect(error).toBeInstanceOf(ScalekitNotFoundException);
    expect((error as ScalekitServerException).grpcStatus).toBe(5);
    expect(fake.portalLinks()).toEqual([]);
  });

  it('a rate-limit fault on GeneratePortalLink rejects with ScalekitTooManyRequestsException, once', async () => {
    const client = sdk();
    await client.organization.generatePortalLink(org);
    fake.faults.rateLimit({ method: 'GeneratePortalLink' });
    expect(await rejection(client.organization.generatePortalLink(org))).toBeInstanceOf(
      ScalekitTooManyRequestsException,
    );
    await client.organization.generatePortalLink(org);
    expect(fake.portalLinks()).toHaveLength(2);
  });

  it('an unauthenticated fault past the SDK’s three token refreshes rejects with ScalekitUnauthorizedException', async () => {
    const client = sdk();
    await client.organization.generatePortalLink(org);
    const tokensBefore = fake.stats().tokensIssued;
    fake.faults.unauthenticated({ method: 'GeneratePortalLink', times: 4 });
    const error = await rejection(client.organization.generatePortalLink(org));
    expect(error).toBeInstanceOf(ScalekitUnauthorizedException);
    expect((error as ScalekitServerException).grpcStatus).toBe(16);
    expect(fake.stats().tokensIssued - tokensBefore).toBe(3);
    expect(fake.portalLinks()).toHaveLength(1);
  });

  it('an unavailable fault is retried by the SDK itself, and the retry gets the link', async () => {
    const client = sdk();
    await client.organization.generatePortalLink(org);
    fake.faults.unavailable({ method: 'GeneratePortalLink' });
    const link = await client.organization.generatePortalLink(org);
    expect(link.location).toContain('/portal/');
    expect(fake.stats().faultsInjected).toBe(1);
  });
});

describe('GET /portal/<token>', () => {
  it('serves the portal once: 200, self-contained HTML, no-store, posting PORTAL_LOAD_SUCCESS with the session end', async () => {
    const link = await sdk().organization.generatePortalLink(org);
    clock += 30_000;
    const page = await open(link.location);

    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    );
    expect(page.html).not.toMatch(/\b(src|href)=/);
    const expiry = new Date(START + 30_000 + SIX_HOURS).toISOString();
    expect(page.config.onLoad).toEqual({
      event_type: 'PORTAL_LOAD_SUCCESS',
      object: 'portal',
      organization_id: org,
      message: expect.any(String),
      data: { expiry },
    });
    expect(page.config.session).toMatchObject({ expiry, warningInMs: SIX_HOURS - 5 * 60_000, expiryInMs: SIX_HOURS });
    expect(page.config.allowedOrigins).toBeNull();

    expect(fake.portalLinks()[0]).toMatchObject({
      usedAt: new Date(START + 30_000),
      sessionExpiresAt: new Date(START + 30_000 + SIX_HOURS),
    });
    expect(fake.stats()).toMatchObject({ portalSessionsOpened: 1, portalLinksRefused: 0 });
  });

  it('carries the stable test ids of the buttons and the state', async () => {
    const link = await sdk().organization.generatePortalLink(org);
    const { html } = await open(link.location);
    for (const testId of [
      'fake-portal',
      'portal-status',
      'organization-name',
      'enable-sso',
      'disable-sso',
      'sso-state',
      'enable-directory',
      'disable-directory',
      'directory-state',
      'directory-id',
      'session-warning',
      'session-expiry',
      'portal-log',
    ]) {
      expect(html).toContain(`data-testid="${testId}"`);
    }
    expect(html).toContain(`<span data-testid="directory-id">${dir}</span>`);
    expect(html).toContain('<strong data-testid="directory-state">enabled</strong>');
  });

  it('a second GET of the same link is a failure page: PORTAL_LOAD_FAILURE, SESSION_EXPIRED', async () => {
    const link = await sdk().organization.generatePortalLink(org);
    await open(link.location);
    const again = await open(link.location);

    expect(again.status).toBe(410);
    expect(again.headers.get('cache-control')).toBe('no-store');
    expect(again.config.onLoad).toEqual({
      event_type: 'PORTAL_LOAD_FAILURE',
      object: 'portal',
      organization_id: org,
      message: expect.any(String),
      data: { error_code: 'SESSION_EXPIRED' },
    });
    expect(again.config.session).toBeUndefined();
    expect(again.html).not.toContain('data-testid="enable-directory"');
    expect(fake.stats()).toMatchObject({ portalSessionsOpened: 1, portalLinksRefused: 1 });
  });

  it('opens within 60 s of issue and not at 60 s: SESSION_EXPIRED, and the link stays unused', async () => {
    const client = sdk();
    const inTime = await client.organization.generatePortalLink(org);
    const late = await client.organization.generatePortalLink(org);
    clock += 59_999;
    expect((await open(inTime.location)).status).toBe(200);
    clock += 1;
    const page = await open(late.location);
    expect(page.status).toBe(410);
    expect(page.config.onLoad.data).toEqual({ error_code: 'SESSION_EXPIRED' });
    expect(fake.portalLinks()[1]?.usedAt).toBeUndefined();
  });

  it('honours a tiny portalLinkTtlSeconds on the real clock', async () => {
    await fake.close();
    fake = await startFakeScalekit({ portalLinkTtlSeconds: 0.05 });
    const organizationId = fake.addOrganization().id;
    const link = await sdk().organization.generatePortalLink(organizationId);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect((await open(link.location)).config.onLoad.data).toEqual({ error_code: 'SESSION_EXPIRED' });
  });

  it('an unknown token is a failure page with INVALID_LINK and no organization', async () => {
    const page = await open(`${fake.url}/portal/not-a-token`);
    expect(page.status).toBe(404);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.config.onLoad).toEqual({
      event_type: 'PORTAL_LOAD_FAILURE',
      object: 'portal',
      message: expect.any(String),
      data: { error_code: 'INVALID_LINK' },
    });
  });

  it('a short portalSessionTtlSeconds sets the warning at once and the expiry at the end', async () => {
    await start({ portalSessionTtlSeconds: 120 });
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    expect(page.config.session).toMatchObject({
      expiry: new Date(START + 120_000).toISOString(),
      warningInMs: 0,
      expiryInMs: 120_000,
    });
  });

  it('portalAllowedOrigins: framed by those origins only, and posted to them', async () => {
    await start({ portalAllowedOrigins: ['http://localhost:3000/', 'https://app.example.com'] });
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    expect(page.headers.get('content-security-policy')).toContain(
      'frame-ancestors http://localhost:3000 https://app.example.com',
    );
    expect(page.config.allowedOrigins).toEqual(['http://localhost:3000', 'https://app.example.com']);
    const failure = await open(`${fake.url}/portal/unknown`);
    expect(failure.headers.get('content-security-policy')).toContain('frame-ancestors http://localhost:3000');
  });

  it('refuses options it cannot honour', async () => {
    await expect(startFakeScalekit({ portalAllowedOrigins: ['not a url'] })).rejects.toMatchObject({
      code: 'invalid_input',
    });
    await expect(startFakeScalekit({ portalLinkTtlSeconds: 0 })).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('the portal session', () => {
  it('disabling and enabling the directory updates the fake: the SDK sees it and the webhook is queued', async () => {
    const page = await open((await sdk().organization.generatePortalLink(org)).location);

    const disabled = await act(page, 'ORGANIZATION_DIRECTORY_DISABLED');
    expect(disabled).toEqual({
      status: 200,
      body: {
        event_type: 'ORGANIZATION_DIRECTORY_DISABLED',
        object: 'directory',
        organization_id: org,
        message: expect.any(String),
        data: { directory_type: 'SCIM', id: dir, provider: 'OKTA', enabled: false },
      },
    });
    const primary = await sdk().directory.getPrimaryDirectoryByOrganizationId(org);
    expect(primary).toMatchObject({ id: dir, enabled: false });

    const enabled = await act(page, 'ORGANIZATION_DIRECTORY_ENABLED');
    expect(enabled.body.data).toEqual({ directory_type: 'SCIM', id: dir, provider: 'OKTA', enabled: true });
    expect(fake.webhooks.pending().map((event) => event.type)).toEqual([
      'organization.directory_disabled',
      'organization.directory_enabled',
    ]);
  });

  it('an organization without a directory gets one when the admin enables directory sync', async () => {
    const bare = fake.addOrganization().id;
    const page = await open((await sdk().organization.generatePortalLink(bare)).location);
    expect(page.html).toContain('<span data-testid="directory-id">none yet</span>');
    const { body } = await act(page, 'ORGANIZATION_DIRECTORY_ENABLED');
    const primary = await sdk().directory.getPrimaryDirectoryByOrganizationId(bare);
    expect(body.data).toEqual({ directory_type: 'SCIM', id: primary.id, provider: 'OKTA', enabled: true });
    expect(primary.id).toMatch(/^dir_\d+$/);
  });

  it('toggles the organization’s SSO connection: OIDC, a stable conn_ id', async () => {
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    const on = await act(page, 'ORGANIZATION_SSO_ENABLED');
    expect(on.body).toEqual({
      event_type: 'ORGANIZATION_SSO_ENABLED',
      object: 'connection',
      organization_id: org,
      message: expect.any(String),
      data: {
        connection_type: 'SSO',
        id: expect.stringMatching(/^conn_\d+$/),
        type: 'OIDC',
        provider: 'OKTA',
        enabled: true,
      },
    });
    const off = await act(page, 'ORGANIZATION_SSO_DISABLED');
    expect(off.body.data).toMatchObject({ id: (on.body.data as { id: string }).id, enabled: false });
  });

  it('refuses actions once the session has ended, and unknown event types', async () => {
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    expect((await act(page, 'PORTAL_LOAD_SUCCESS')).status).toBe(400);
    clock += SIX_HOURS;
    expect(await act(page, 'ORGANIZATION_DIRECTORY_DISABLED')).toEqual({
      status: 401,
      body: { error_code: 'SESSION_EXPIRED', error_description: expect.any(String) },
    });
    expect(fake.webhooks.pending()).toEqual([]);
  });
});

describe('the page script', () => {
  it('posts PORTAL_LOAD_SUCCESS to any parent on load, and times the warning and the expiry', async () => {
    await start({ portalSessionTtlSeconds: 600 });
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    const { posted, timers } = runScript(page);
    const expiry = new Date(START + 600_000).toISOString();

    expect(posted).toEqual([{ message: page.config.onLoad, targetOrigin: '*' }]);
    expect(timers.map((t) => t.delay)).toEqual([300_000, 600_000]);
    for (const timer of timers) timer.run();
    expect(posted.slice(1).map((p) => [p.message.event_type, p.message.object, p.message.data])).toEqual([
      ['PORTAL_SESSION_WARNING', 'portal', { expiry }],
      ['PORTAL_SESSION_EXPIRY', 'portal', { expiry }],
    ]);
  });

  it('window.fakePortal.post toggles the directory through the fake, then posts the message', async () => {
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    const { posted, portal } = runScript(page);
    const message = await portal.post('ORGANIZATION_DIRECTORY_DISABLED');
    expect(message).toMatchObject({ event_type: 'ORGANIZATION_DIRECTORY_DISABLED', data: { id: dir, enabled: false } });
    expect(posted.at(-1)).toEqual({ message, targetOrigin: '*' });
    expect(fake.webhooks.pending().map((event) => event.type)).toEqual(['organization.directory_disabled']);
    await expect(portal.post('NOT_AN_EVENT')).rejects.toThrow('unknown portal event type');
  });

  it('posts only to the allowed origin that frames it', async () => {
    await start({ portalAllowedOrigins: ['http://localhost:3000', 'https://app.example.com'] });
    const page = await open((await sdk().organization.generatePortalLink(org)).location);
    const framed = runScript(page, { ancestorOrigin: 'https://app.example.com' });
    expect(framed.posted.map((p) => p.targetOrigin)).toEqual(['https://app.example.com']);
  });

  it('a failure page posts PORTAL_LOAD_FAILURE and sets no timers', async () => {
    const { posted, timers, portal } = runScript(await open(`${fake.url}/portal/unknown`));
    expect(posted.map((p) => p.message.data)).toEqual([{ error_code: 'INVALID_LINK' }]);
    expect(timers).toEqual([]);
    await expect(portal.post('ORGANIZATION_SSO_ENABLED')).rejects.toThrow('no portal session');
  });
});
