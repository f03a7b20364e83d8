/**
 * `<AdminPortal>` mounted by React 19 in real Chromium: the built `dist/react.js`, bundled with
 * React for the page by esbuild, against the harness's app, link route and portal origins.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { frameOn, type Harness, ssoEnabled, startHarness, TRACK_MESSAGE_LISTENERS } from './harness.js';

declare global {
  interface Window {
    renderPortal: (props: Record<string, unknown>) => void;
    unmountReact: () => void;
    eventTypes: string[];
  }
}

const ENTRY = `
import { createElement } from 'react';
import { flushSync } from 'react-dom';
import { createRoot } from 'react-dom/client';
import { AdminPortal } from './dist/react.js';

window.eventTypes = [];
let root;
window.renderPortal = (props) => {
  root ??= createRoot(document.getElementById('root'));
  flushSync(() => root.render(createElement(AdminPortal, { ...props, onEvent: (event) => window.eventTypes.push(event.type) })));
};
window.unmountReact = () => flushSync(() => root.unmount());
`;

let harness: Harness;
let page: Page;
let appPage: string;

beforeAll(async () => {
  const bundle = await build({
    stdin: { contents: ENTRY, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'silent',
  });
  const script = (bundle.outputFiles[0]?.text ?? '').replaceAll('</script', '<\\/script');
  appPage = `<!doctype html><html><body><div id="root"></div><script>${TRACK_MESSAGE_LISTENERS}</script><script>${script}</script></body></html>`;
  harness = await startHarness();
}, 60_000);
afterAll(() => harness?.close());
beforeEach(async () => {
  harness.reset();
  harness.appPage = appPage;
  page = await harness.openApp();
});
afterEach(() => page?.close());

const frames = () => page.evaluate(() => [...document.querySelectorAll('iframe')].map((f) => f.src));

it('mounts the frame after render, with a fresh link, and forwards the portal’s events', async () => {
  await page.evaluate(() => window.renderPortal({ className: 'portal', height: 700 }));
  const portal = await frameOn(page, harness.portalOrigin, '?link=1');
  const attributes = await page.evaluate(() => {
    const frame = document.querySelector('#root > div.portal > iframe') as HTMLIFrameElement;
    return { allow: frame.getAttribute('allow'), height: frame.getAttribute('height') };
  });
  expect(attributes).toEqual({ allow: 'clipboard-write', height: '700' });

  await portal.evaluate((message) => window.send(message), ssoEnabled);
  await page.waitForFunction(() => window.eventTypes.length > 0);
  expect(await page.evaluate(() => window.eventTypes)).toEqual(['ORGANIZATION_SSO_ENABLED']);
});

it('keeps its frame across re-renders with new callbacks, and mounts a fresh one when an option changes', async () => {
  await page.evaluate(() => window.renderPortal({ height: 700 }));
  await frameOn(page, harness.portalOrigin, '?link=1');
  await page.evaluate(() => window.renderPortal({ height: 700 }));
  await page.evaluate(() => window.renderPortal({ height: 700 }));
  expect(harness.linkCalls).toBe(1);
  expect(await frames()).toEqual([`${harness.portalOrigin}/portal?link=1`]);

  await page.evaluate(() => window.renderPortal({ height: 800 }));
  await frameOn(page, harness.portalOrigin, '?link=2');
  expect(harness.linkCalls).toBe(2);
  expect(await frames()).toEqual([`${harness.portalOrigin}/portal?link=2`]);
});

it('removes the frame and its message listener when React unmounts it', async () => {
  await page.evaluate(() => window.renderPortal({}));
  const portal = await frameOn(page, harness.portalOrigin, '?link=1');
  await portal.evaluate((message) => window.send(message), ssoEnabled);
  await page.waitForFunction(() => window.eventTypes.length === 1);
  expect(await page.evaluate(() => window.messageListeners.size)).toBe(1);

  await page.evaluate(() => window.unmountReact());
  expect(await frames()).toEqual([]);
  expect(await page.evaluate(() => window.messageListeners.size)).toBe(0);
});
