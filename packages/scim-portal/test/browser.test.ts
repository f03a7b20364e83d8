import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { answerLink, delay, frameOn, type Harness, ssoEnabled, startHarness } from './harness.js';

let harness: Harness;
let page: Page;

beforeAll(async () => {
  harness = await startHarness();
});
afterAll(() => harness?.close());
beforeEach(() => harness.reset());
afterEach(() => page?.close());

type MountOptions = Record<string, unknown>;

/** Opens the app page and mounts the portal into `#portal` with the page's recording callbacks. */
async function mount(options: MountOptions = {}): Promise<void> {
  page = await harness.openApp();
  await page.evaluate((options) => {
    window.portal = window.scimPortal.mountAdminPortal(document.getElementById('portal')!, {
      ...window.record,
      ...options,
    });
  }, options);
}

const frameSrc = () => page.evaluate(() => window.portal.frame.src);
const waitForSrc = (query: string) =>
  page.waitForFunction((query) => window.portal.frame.src.endsWith(query), query, { timeout: 5_000 });
const waitForErrors = (count: number) =>
  page.waitForFunction((count) => window.errors.length >= count, count, { timeout: 5_000 });
const events = () => page.evaluate(() => window.events);

const directoryEnabled = {
  event_type: 'ORGANIZATION_DIRECTORY_ENABLED',
  organization_id: 'org_1',
  data: { directory_type: 'SCIM', id: 'dir_1', provider: 'AZURE_AD', enabled: true },
};
const sessionExpiry = { event_type: 'PORTAL_SESSION_EXPIRY', data: { expiry: '2030-01-01T00:00:00.000Z' } };
const sessionExpiredLoad = { event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'SESSION_EXPIRED' } };

describe('mounting', () => {
  it('adds an iframe with a fresh link, the attributes Scalekit asks for, and keeps the element’s content', async () => {
    await mount({ title: 'SSO and SCIM settings', height: 400 });
    await waitForSrc('/portal?link=1');
    const frame = await page.evaluate(() => {
      const frame = document.querySelector('#portal iframe')!;
      return {
        same: frame === window.portal.frame,
        src: frame.getAttribute('src'),
        width: frame.getAttribute('width'),
        height: frame.getAttribute('height'),
        allow: frame.getAttribute('allow'),
        title: frame.getAttribute('title'),
        siblings: [...document.getElementById('portal')!.children].map((child) => child.id || child.tagName),
        keep: document.getElementById('keep')?.textContent,
        status: window.portal.status,
        link: window.portal.link,
      };
    });
    expect(frame).toEqual({
      same: true,
      src: `${harness.portalOrigin}/portal?link=1`,
      width: '100%',
      height: '600',
      allow: 'clipboard-write',
      title: 'SSO and SCIM settings',
      siblings: ['sibling', 'IFRAME'],
      keep: 'app content',
      status: 'open',
      link: { location: `${harness.portalOrigin}/portal?link=1`, expiresAt: expect.any(String) },
    });
    expect(harness.linkCalls).toBe(1);
  });

  it('takes taller pixel heights as is and CSS heights with a 600 px minimum', async () => {
    await mount();
    const heights = await page.evaluate(() => {
      const element = document.getElementById('portal')!;
      const { mountAdminPortal } = window.scimPortal;
      const defaults = mountAdminPortal(element, {}).frame;
      const tall = mountAdminPortal(element, { height: 900 }).frame;
      const css = mountAdminPortal(element, { height: '75vh' }).frame;
      return [
        defaults.getAttribute('height'),
        tall.getAttribute('height'),
        [css.style.height, css.style.minHeight],
        document.querySelectorAll('#portal iframe').length,
      ];
    });
    expect(heights).toEqual(['600', '900', ['75vh', '600px'], 4]);
  });

  it('uses fetchLink instead of the route, and refuses a link that is not an http(s) URL', async () => {
    page = await harness.openApp();
    const result = await page.evaluate(async (portalOrigin) => {
      const { mountAdminPortal } = window.scimPortal;
      const element = document.getElementById('portal')!;
      const custom = mountAdminPortal(element, {
        fetchLink: async () => ({ location: `${portalOrigin}/portal?custom` }),
      });
      const hostile = mountAdminPortal(element, {
        ...window.record,
        fetchLink: async () => ({ location: 'javascript:alert(1)' }),
      });
      await Promise.all([custom.reload(), hostile.reload()]);
      return { custom: custom.frame.src, hostile: hostile.frame.getAttribute('src'), status: hostile.status };
    }, harness.portalOrigin);
    expect(result).toEqual({ custom: `${harness.portalOrigin}/portal?custom`, hostile: null, status: 'failed' });
    expect(await page.evaluate(() => window.errors)).toEqual([
      expect.objectContaining({ name: 'PortalLinkError', code: 'invalid_link', isError: true }),
    ]);
    expect(harness.linkCalls).toBe(0);
  });
});

describe('portal events', () => {
  it('reach onEvent typed when they come from the link’s origin and the portal frame', async () => {
    await mount();
    const portal = await frameOn(page, harness.portalOrigin);
    await portal.evaluate(
      (messages) => {
        for (const message of messages) window.send(message);
      },
      [
        ssoEnabled,
        directoryEnabled,
        { event_type: 'PORTAL_SESSION_WARNING', data: { expiry: '2030-01-01T00:00:00.000Z' } },
        { event_type: 'SOMETHING_NEW', data: { x: 1 } },
        'not a portal message',
      ],
    );
    await page.waitForFunction(() => window.events.length >= 4);
    await delay(100);
    const received = await events();
    expect(received.map((event) => event.type)).toEqual([
      'ORGANIZATION_SSO_ENABLED',
      'ORGANIZATION_DIRECTORY_ENABLED',
      'PORTAL_SESSION_WARNING',
      'unknown',
    ]);
    expect(received[0]).toMatchObject({
      event_type: 'ORGANIZATION_SSO_ENABLED',
      organization_id: 'org_1',
      data: ssoEnabled.data,
    });
    expect(received[2]).toMatchObject({ expiry: new Date('2030-01-01T00:00:00.000Z') });
    expect(received[3]).toMatchObject({ event_type: 'SOMETHING_NEW', data: { x: 1 } });
    expect(harness.linkCalls).toBe(1);
  });

  it('are ignored from the app itself, a stranger origin, or another frame on the portal origin', async () => {
    await mount();
    await frameOn(page, harness.portalOrigin, '?link=1');
    await page.evaluate(
      ({ strangerOrigin, portalOrigin }) => {
        for (const src of [`${strangerOrigin}/portal?stranger`, `${portalOrigin}/portal?other-frame`]) {
          const frame = document.createElement('iframe');
          frame.src = src;
          document.body.append(frame);
        }
      },
      { strangerOrigin: harness.strangerOrigin, portalOrigin: harness.portalOrigin },
    );
    const stranger = await frameOn(page, harness.strangerOrigin, '?stranger');
    const otherFrame = await frameOn(page, harness.portalOrigin, '?other-frame');
    await page.evaluate(
      (messages) => {
        for (const message of messages) window.postMessage(message, '*');
      },
      [directoryEnabled, sessionExpiry],
    );
    for (const frame of [stranger, otherFrame]) {
      await frame.evaluate(
        (messages) => {
          for (const message of messages) window.send(message);
        },
        [directoryEnabled, sessionExpiry, sessionExpiredLoad],
      );
    }
    await delay(300);
    expect(await events()).toEqual([]);
    expect(harness.linkCalls).toBe(1);

    // The real portal still gets through, so the silence above was the filter, not a dead listener.
    const portal = await frameOn(page, harness.portalOrigin, '?link=1');
    await portal.evaluate((message) => window.send(message), ssoEnabled);
    await page.waitForFunction(() => window.events.length === 1);
    expect((await events())[0]?.type).toBe('ORGANIZATION_SSO_ENABLED');
  });
});

describe('refreshing the link', () => {
  it('on PORTAL_SESSION_EXPIRY forwards the event, fetches a fresh link and loads it', async () => {
    await mount();
    const portal = await frameOn(page, harness.portalOrigin, '?link=1');
    await portal.evaluate((message) => window.send(message), sessionExpiry);
    await waitForSrc('/portal?link=2');
    expect((await events()).map((event) => event.type)).toEqual(['PORTAL_SESSION_EXPIRY']);
    expect(harness.linkCalls).toBe(2);
    expect(await page.evaluate(() => window.portal.status)).toBe('open');

    // Events from the new link's page are accepted too.
    const reloaded = await frameOn(page, harness.portalOrigin, '?link=2');
    await reloaded.evaluate((message) => window.send(message), ssoEnabled);
    await page.waitForFunction(() => window.events.length === 2);
  });

  it('on PORTAL_LOAD_FAILURE with SESSION_EXPIRED, and not on other load failures', async () => {
    await mount();
    const portal = await frameOn(page, harness.portalOrigin, '?link=1');
    await portal.evaluate((message) => window.send(message), {
      event_type: 'PORTAL_LOAD_FAILURE',
      data: { error_code: 'ORGANIZATION_NOT_FOUND' },
    });
    await page.waitForFunction(() => window.events.length === 1);
    await delay(200);
    expect(harness.linkCalls).toBe(1);

    await portal.evaluate((message) => window.send(message), sessionExpiredLoad);
    await waitForSrc('/portal?link=2');
    expect(harness.linkCalls).toBe(2);
  });

  it('coalesces triggers that arrive together into one link fetch', async () => {
    harness.linkRoute = (request) => setTimeout(() => answerLink(request), request.n === 1 ? 0 : 200);
    await mount();
    const portal = await frameOn(page, harness.portalOrigin, '?link=1');
    await portal.evaluate(
      (messages) => {
        for (const message of messages) window.send(message);
      },
      [sessionExpiry, sessionExpiredLoad, sessionExpiry],
    );
    await page.waitForFunction(() => window.events.length === 3);
    await page.evaluate(() => window.portal.reload());
    expect(await frameSrc()).toBe(`${harness.portalOrigin}/portal?link=2`);
    await delay(300);
    expect(harness.linkCalls).toBe(2);
  });

  it('gives up on a link route that keeps failing after maxRefreshes retries, with one onError', async () => {
    let failing = true;
    harness.linkRoute = (request) => {
      if (!failing) return answerLink(request);
      request.response.writeHead(503, { 'content-type': 'application/json' });
      request.response.end(JSON.stringify({ error: { code: 'scalekit_unavailable', message: 'Scalekit is down' } }));
    };
    await mount({ maxRefreshes: 3, retryDelayMs: 20 });
    await waitForErrors(1);
    await delay(600);
    // The first load, then 3 retries (at once, +20 ms, +40 ms); nothing after.
    expect(harness.linkCalls).toBe(4);
    expect(await page.evaluate(() => window.errors)).toEqual([
      {
        name: 'PortalLinkError',
        code: 'scalekit_unavailable',
        status: 503,
        message: 'Scalekit is down',
        isError: true,
      },
    ]);
    expect(await page.evaluate(() => [window.portal.status, window.portal.frame.getAttribute('src')])).toEqual([
      'failed',
      null,
    ]);

    // reload() starts over with a fresh budget.
    failing = false;
    await page.evaluate(() => window.portal.reload());
    expect(await frameSrc()).toBe(`${harness.portalOrigin}/portal?link=5`);
    expect(await page.evaluate(() => window.portal.status)).toBe('open');
  });

  it('reports a failure retrying cannot fix (401) at once, without retrying', async () => {
    harness.linkRoute = ({ response }) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'unauthorized', message: 'Sign in again' } }));
    };
    await mount({ retryDelayMs: 10 });
    await waitForErrors(1);
    await delay(300);
    expect(harness.linkCalls).toBe(1);
    expect(await page.evaluate(() => window.errors)).toEqual([
      { name: 'PortalLinkError', code: 'unauthorized', status: 401, message: 'Sign in again', isError: true },
    ]);
  });

  it('stops a portal that expires as soon as it loads after maxRefreshes, with refresh_limit', async () => {
    harness.linkRoute = ({ n, response, portalOrigin }) => {
      const onload = encodeURIComponent(JSON.stringify(sessionExpiry));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ location: `${portalOrigin}/portal?link=${n}&onload=${onload}` }));
    };
    await mount({ maxRefreshes: 2, retryDelayMs: 20 });
    await waitForErrors(1);
    await delay(800);
    expect(harness.linkCalls).toBe(3);
    expect(await page.evaluate(() => window.errors)).toEqual([
      expect.objectContaining({ code: 'refresh_limit', status: undefined, isError: true }),
    ]);
    expect(await page.evaluate(() => window.portal.status)).toBe('failed');
  });
});

describe('unmount', () => {
  it('removes the listener and the frame; later messages do nothing; repeating it is harmless', async () => {
    await mount();
    await frameOn(page, harness.portalOrigin, '?link=1');
    expect(await page.evaluate(() => window.messageListeners.size)).toBe(1);
    const dispatch = (data: unknown) =>
      page.evaluate(
        ({ data, origin }) => {
          window.dispatchEvent(new MessageEvent('message', { data, origin, source: window.portalWindow }));
        },
        { data, origin: harness.portalOrigin },
      );
    await page.evaluate(() => {
      window.portalWindow = window.portal.frame.contentWindow;
    });
    // The same synthetic message is accepted while mounted, so ignoring it later proves the unmount.
    await dispatch(ssoEnabled);
    expect(await events()).toHaveLength(1);

    await page.evaluate(() => {
      window.portal.unmount();
      window.portal.unmount();
    });
    expect(
      await page.evaluate(() => ({
        listeners: window.messageListeners.size,
        frames: document.querySelectorAll('iframe').length,
        sibling: document.getElementById('sibling') !== null,
        status: window.portal.status,
      })),
    ).toEqual({ listeners: 0, frames: 0, sibling: true, status: 'unmounted' });
    await dispatch(sessionExpiry);
    await page.evaluate(() => window.portal.reload());
    await delay(200);
    expect(await events()).toHaveLength(1);
    expect(harness.linkCalls).toBe(1);
  });

  it('aborts the link fetch under way and reports nothing', async () => {
    harness.linkRoute = () => {};
    await mount();
    await expect.poll(() => harness.linkCalls).toBe(1);
    await page.evaluate(() => window.portal.unmount());
    await expect.poll(() => harness.abortedLinkCalls).toBe(1);
    await delay(100);
    expect(await page.evaluate(() => window.errors)).toEqual([]);
  });
});
