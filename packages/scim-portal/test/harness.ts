/**
 * A real browser against three local origins: the "app" (a page loading the built `dist/index.js`
 * as `/assets/scim-portal.js`, and a link route each test scripts), the "portal" (a page that posts
 * whatever the test tells it to its parent) and a "stranger" origin that posts portal-shaped messages.
 */

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Browser, Frame, Page } from 'playwright-core';
import { launchChromium } from '../../../scripts/chromium.js';

declare global {
  interface Window {
    scimPortal: typeof import('../src/index.js');
    portal: import('../src/index.js').AdminPortal;
    events: import('../src/index.js').PortalEvent[];
    errors: { name: string; code: string; status: number | undefined; message: string; isError: boolean }[];
    record: { onEvent: (event: import('../src/index.js').PortalEvent) => void; onError: (error: Error) => void };
    messageListeners: Set<unknown>;
    moduleReady: boolean;
    portalWindow: Window | null;
    send: (message: unknown) => void;
  }
}

/** A portal message as the portal posts it: SSO enabled. */
export const ssoEnabled = {
  event_type: 'ORGANIZATION_SSO_ENABLED',
  object: 'connection',
  organization_id: 'org_1',
  message: 'SSO enabled',
  data: { connection_type: 'SSO', id: 'conn_1', type: 'OIDC', provider: 'OKTA', enabled: true },
};

export const distFile = new URL('../dist/index.js', import.meta.url);

export interface LinkRequest {
  /** 1-based count of link route calls so far, this one included. */
  n: number;
  request: IncomingMessage;
  response: ServerResponse;
  portalOrigin: string;
}

/** Answers a fresh portal link, numbered by call. */
export function answerLink({ n, response, portalOrigin }: LinkRequest): void {
  response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify({ location: `${portalOrigin}/portal?link=${n}`, expiresAt: new Date().toISOString() }));
}

export interface Harness {
  browser: Browser;
  appOrigin: string;
  portalOrigin: string;
  strangerOrigin: string;
  /** How the link route answers; reset by `reset()`. */
  linkRoute: (request: LinkRequest) => void;
  linkCalls: number;
  /** Link requests the browser dropped before an answer (aborted fetches). */
  abortedLinkCalls: number;
  /** HTML the app serves at `/` (defaults to a page exposing the module as `window.scimPortal`). */
  appPage: string;
  reset(): void;
  openApp(): Promise<Page>;
  close(): Promise<void>;
}

/** Page script that keeps `window.messageListeners`, so tests can see unmount() remove its own. */
export const TRACK_MESSAGE_LISTENERS = `window.messageListeners = new Set();
  const add = window.addEventListener.bind(window);
  const remove = window.removeEventListener.bind(window);
  window.addEventListener = (type, listener, options) => { if (type === 'message') messageListeners.add(listener); add(type, listener, options); };
  window.removeEventListener = (type, listener, options) => { if (type === 'message') messageListeners.delete(listener); remove(type, listener, options); };`;

const defaultAppPage = `<!doctype html>
<html><body>
<p id="keep">app content</p>
<div id="portal"><span id="sibling">kept</span></div>
<script>
  ${TRACK_MESSAGE_LISTENERS}
  window.events = [];
  window.errors = [];
</script>
<script type="module">
  import * as scimPortal from '/assets/scim-portal.js';
  window.scimPortal = scimPortal;
  window.record = {
    onEvent: (event) => events.push(event),
    onError: (error) => errors.push({ name: error.name, code: error.code, status: error.status, message: error.message, isError: error instanceof scimPortal.PortalLinkError }),
  };
  window.moduleReady = true;
</script>
</body></html>`;

const portalPage = `<!doctype html>
<html><body>portal
<script>
  window.send = (message) => parent.postMessage(message, '*');
  const onload = new URL(location.href).searchParams.get('onload');
  if (onload) send(JSON.parse(onload));
</script>
</body></html>`;

function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler).listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => server);
}

function origin(server: Server): string {
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

function html(response: ServerResponse, body: string): void {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  response.end(body);
}

export async function startHarness(): Promise<Harness> {
  const portalOrHarmless = (_request: IncomingMessage, response: ServerResponse) => html(response, portalPage);
  const portal = await listen(portalOrHarmless);
  const stranger = await listen(portalOrHarmless);
  const app = await listen((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path === '/') return html(response, harness.appPage);
    if (path === '/assets/scim-portal.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      return response.end(readFileSync(distFile));
    }
    if (path === '/api/admin-portal/link' && request.method === 'GET') {
      harness.linkCalls += 1;
      response.on('close', () => {
        if (!response.writableFinished) harness.abortedLinkCalls += 1;
      });
      return harness.linkRoute({ n: harness.linkCalls, request, response, portalOrigin: harness.portalOrigin });
    }
    response.writeHead(404).end();
  });
  const browser = await launchChromium();

  const harness: Harness = {
    browser,
    appOrigin: origin(app),
    portalOrigin: origin(portal),
    strangerOrigin: origin(stranger),
    linkRoute: answerLink,
    linkCalls: 0,
    abortedLinkCalls: 0,
    appPage: defaultAppPage,
    reset() {
      harness.linkRoute = answerLink;
      harness.linkCalls = 0;
      harness.abortedLinkCalls = 0;
      harness.appPage = defaultAppPage;
    },
    async openApp() {
      const page = await browser.newPage();
      await page.goto(`${harness.appOrigin}/`);
      if (harness.appPage === defaultAppPage) await page.waitForFunction(() => 'moduleReady' in window);
      return page;
    },
    async close() {
      await browser.close();
      for (const server of [app, portal, stranger]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
  return harness;
}

/** The frame whose URL is on `origin` (the portal iframe once it has a link). */
export async function frameOn(page: Page, origin: string, query = ''): Promise<Frame> {
  for (let tries = 0; tries < 100; tries += 1) {
    const frame = page.frames().find((candidate) => candidate.url().startsWith(`${origin}/portal${query}`));
    if (frame) {
      await frame.waitForFunction(() => 'send' in window);
      return frame;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no frame on ${origin}/portal${query}; frames: ${page.frames().map((f) => f.url())}`);
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
