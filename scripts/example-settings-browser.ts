/**
 * `GET /settings` of an example in real headless Chromium: the customer's IT admin signs in (the
 * demo login), the page embeds Scalekit's admin portal (the fake Scalekit's, on its own origin)
 * through `@org/scim-portal`, and reacts to what the portal posts. Plus the link route over plain
 * HTTP: who may have a link, and that it is never cached.
 *
 * A screenshot of the page is saved under `test-artifacts/` at the repository root.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './chromium.js';
import type { ExampleEnv, ExampleServer } from './example-contract.js';

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));

/** A group name written to run script if a page put it in as markup. */
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & Co';

/** The role mapping the page lists (`ACCESS_RULES`, one rule set for every organization). */
const ACCESS_RULES = JSON.stringify({
  defaultRoles: ['member'],
  rules: [
    { match: 'groupId', value: 'dirgroup_admins', grant: ['admin'] },
    { match: 'groupName', value: HOSTILE, grant: ['<b>owner</b>'] },
  ],
});

/**
 * Pages on a third origin: `/` posts a portal-shaped message to whatever frames it; `/form?action=…`
 * is another site's form that posts itself to `action` as soon as it loads.
 */
async function startStranger(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://stranger');
    if (url.pathname === '/form') {
      const action = (url.searchParams.get('action') ?? '').replace(/[^A-Za-z0-9:/?=&._-]/g, '');
      response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html>
        <form method="post" action="${action}"><input name="force" value="1"></form>
        <script>document.forms[0].submit();</script>`);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><script>
      parent.postMessage({ event_type: 'ORGANIZATION_DIRECTORY_DISABLED', object: 'directory', organization_id: 'org_x',
        message: 'spoofed', data: { directory_type: 'SCIM', id: 'dir_spoof', provider: 'EVIL', enabled: false } }, '*');
      parent.postMessage({ event_type: 'PORTAL_SESSION_EXPIRY', object: 'portal', message: 'spoofed', data: { expiry: new Date().toISOString() } }, '*');
    </script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

export function runSettingsBrowserSuite(name: string, start: (env: ExampleEnv) => Promise<ExampleServer>): void {
  describe(`${name}: /settings and the admin portal`, () => {
    let fake: FakeScalekit;
    let organizationId: string;
    let app: ExampleServer;
    let browser: Browser;
    let stranger: { url: string; server: Server };

    beforeAll(async () => {
      fake = await startFakeScalekit();
      organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
      fake.addDirectory(organizationId);
      stranger = await startStranger();
      app = await start({
        SCALEKIT_WEBHOOK_SECRET: fake.webhookSecret,
        SCALEKIT_ENVIRONMENT_URL: fake.url,
        SCALEKIT_CLIENT_ID: fake.clientId,
        SCALEKIT_CLIENT_SECRET: fake.clientSecret,
        SCIM_BEARER_TOKEN: '',
        SCIM_ORGANIZATION_ID: '',
        SCIM_TOKENS: '',
        DATABASE_URL: '',
        DATABASE_SCHEMA: '',
        DATABASE_TABLE_PREFIX: '',
        DEMO_LOGIN: '1',
        SESSION_SECRET: 'example-settings-browser-suite',
        SESSION_TTL_SECONDS: '',
        ACCESS_RULES,
        ACCESS_RULES_FILE: '',
      });
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await app?.close();
      stranger?.server.close();
      await fake?.close();
    });

    /** Signs in through the demo form, as a person would. */
    async function signIn(page: Page): Promise<void> {
      await page.goto(`${app.url}/settings`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByTestId('organization-id').fill(organizationId);
      await page.getByTestId('sign-in').click();
      await page.waitForURL(`${app.url}/settings`);
    }

    const portalFrame = async (page: Page): Promise<Frame> => {
      const handle = await page.waitForSelector('[data-testid="portal"] iframe');
      const frame = await handle.contentFrame();
      if (!frame) throw new Error('the portal iframe has no frame');
      return frame;
    };

    it('serves the link only to a signed-in admin, for their organization, never cached', async () => {
      const link = `${app.url}/api/admin-portal/link`;
      const anonymous = await fetch(link);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('cache-control')).toBe('no-store');

      const login = await fetch(`${app.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ organization_id: organizationId }),
        redirect: 'manual',
      });
      expect(login.status).toBe(303);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      expect(cookie).toMatch(/^scim_example_admin=/);

      const before = fake.portalLinks().length;
      const answers = await Promise.all([fetch(link, { headers: { cookie } }), fetch(link, { headers: { cookie } })]);
      const bodies = (await Promise.all(answers.map((a) => a.json()))) as { location: string; expiresAt: string }[];
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get('cache-control')).toBe('no-store');
      }
      expect(new Set(bodies.map((b) => b.location)).size).toBe(2);
      expect(
        fake
          .portalLinks()
          .slice(before)
          .map((l) => l.organizationId),
      ).toEqual([organizationId, organizationId]);

      // Another organization in the query string is refused; a forged cookie is nobody.
      const other = fake.addOrganization({ displayName: 'Globex' }).id;
      expect((await fetch(`${link}?organization_id=${other}`, { headers: { cookie } })).status).toBe(403);
      const forged = `scim_example_admin=${encodeURIComponent(`${other}.${cookie.split('.').at(-1)}`)}`;
      expect((await fetch(link, { headers: { cookie: forged } })).status).toBe(401);
      expect(fake.portalLinks().length).toBe(before + 2);
    }, 15_000);

    it('embeds the portal, reacts to its events, refreshes an expired session and ignores foreign messages', async () => {
      const page = await browser.newPage({ viewport: { width: 1100, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      try {
        await signIn(page);
        await expect.poll(() => page.getByTestId('organization').textContent()).toBe(organizationId);

        // The frame, as SCALEKIT.md §4 asks, on the fake's origin.
        const iframe = page.locator('[data-testid="portal"] iframe');
        await expect.poll(() => iframe.getAttribute('src')).toMatch(new RegExp(`^${fake.url}/portal/`));
        expect(await iframe.getAttribute('allow')).toContain('clipboard-write');
        expect(Number.parseInt((await iframe.getAttribute('height')) ?? '0', 10)).toBeGreaterThanOrEqual(600);
        const firstSrc = (await iframe.getAttribute('src')) as string;
        // PORTAL_LOAD_SUCCESS reached the page.
        await expect.poll(() => page.getByTestId('portal-session').textContent()).toMatch(/^open/);

        // "Directory enabled" in the portal: the page shows a banner and the new state.
        const frame = await portalFrame(page);
        await frame.getByTestId('enable-directory').click();
        await expect.poll(() => page.getByTestId('banner').isVisible()).toBe(true);
        expect(await page.getByTestId('banner').textContent()).toMatch(/Directory sync is on/);
        await expect.poll(() => page.getByTestId('directory-status').textContent()).toMatch(/^enabled/);

        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({
          path: `${ARTIFACTS}settings-${name.replace(/[^a-z0-9]+/gi, '-')}.png`,
          fullPage: true,
        });

        // Session expiry: the page fetches a new link and the frame's src changes to it.
        const linksBefore = fake.portalLinks().length;
        await frame.getByTestId('session-expiry').click();
        await expect.poll(() => iframe.getAttribute('src')).not.toBe(firstSrc);
        const secondSrc = (await iframe.getAttribute('src')) as string;
        expect(fake.portalLinks().length).toBe(linksBefore + 1);
        expect(fake.portalLinks().at(-1)?.location).toBe(secondSrc);
        await expect.poll(() => fake.portalLinks().at(-1)?.usedAt).toBeInstanceOf(Date);
        await expect.poll(() => page.getByTestId('portal-session').textContent()).toMatch(/^open/);

        // Messages from a foreign origin (a frame of a third server) and from the page itself are
        // ignored: neither the spoofed "directory disabled" nor the spoofed expiry has any effect.
        await page.evaluate((url) => {
          const spy = document.createElement('iframe');
          spy.src = url;
          spy.dataset.testid = 'stranger';
          document.body.append(spy);
          window.postMessage(
            {
              event_type: 'ORGANIZATION_DIRECTORY_DISABLED',
              object: 'directory',
              message: 'self',
              data: { directory_type: 'SCIM', id: 'dir_self', provider: 'SELF', enabled: false },
            },
            '*',
          );
        }, stranger.url);
        await page.frameLocator('[data-testid="stranger"]').locator('script').first().waitFor({ state: 'attached' });
        // A genuine portal event after them: once the page shows it, the foreign ones were handled too.
        const genuine = await portalFrame(page);
        await genuine.getByTestId('enable-sso').click();
        await expect.poll(() => page.getByTestId('sso-status').textContent()).toMatch(/^enabled/);
        expect(await page.getByTestId('directory-status').textContent()).toMatch(/^enabled/);
        expect(await iframe.getAttribute('src')).toBe(secondSrc);
        expect(fake.portalLinks().length).toBe(linksBefore + 1);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }, 30_000);

    it('lists the groups with the app roles each maps to, and the default roles; a hostile group name is text', async () => {
      // In the directory, and delivered to the app as Scalekit would (so a later sync finds them unchanged).
      for (const [id, displayName] of [
        ['dirgroup_admins', 'Admins'],
        ['dirgroup_hostile', HOSTILE],
        ['dirgroup_plain', 'Everyone'],
      ] as const) {
        fake.upsertGroup(organizationId, { id, displayName });
      }
      const delivered = await fake.webhooks.deliver(`${app.url}/webhooks/scalekit`);
      expect(delivered.map((d) => d.status)).toEqual([200, 200, 200]);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      try {
        await signIn(page);
        const rows = await page.getByTestId('group-role').evaluateAll((elements) =>
          elements.map((row) => ({
            id: row.getAttribute('data-group-id'),
            name: row.querySelector('[data-testid="group-name"]')?.textContent,
            roles: row.querySelector('[data-testid="group-roles"]')?.textContent,
          })),
        );
        expect(rows).toEqual([
          { id: 'dirgroup_admins', name: 'Admins', roles: 'admin' },
          { id: 'dirgroup_hostile', name: HOSTILE, roles: '<b>owner</b>' },
          { id: 'dirgroup_plain', name: 'Everyone', roles: 'none' },
        ]);
        expect(await page.getByTestId('default-roles').textContent()).toBe('member');
        expect(await page.getByTestId('roles-source').textContent()).toMatch(/^From ACCESS_RULES, read at start\./);
        // Nothing of the name became markup: no image, no script ran, no bold role.
        expect(await page.locator('main img, main b').count()).toBe(0);
        expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }, 30_000);

    it("lets the admin's own page POST /api/sync with fetch, refuses another site's form post, and signs out for good", async () => {
      const page = await browser.newPage();
      try {
        await signIn(page);
        const own = await page.evaluate(async () => {
          const response = await fetch('/api/sync', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          });
          return { status: response.status, body: await response.json() };
        });
        expect(own).toMatchObject({ status: 200, body: { status: 'completed', organizationId } });

        // Another origin of the same site (127.0.0.1, another port): SameSite=Lax lets the cookie
        // through, so only the app's own Sec-Fetch-Site check stands between this form and a sync.
        const callsBefore = { ...fake.stats().calls };
        const action = `${app.url}/api/sync?force=1`;
        await page.goto(`${stranger.url}form?action=${encodeURIComponent(action)}`);
        await page.waitForURL(action);
        expect(await page.textContent('body')).toContain('cross_site_request');
        expect(fake.stats().calls).toEqual(callsBefore);

        // Sign out from the page: the session ends, and the page sends the admin back to /login.
        await page.goto(`${app.url}/settings`);
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForURL(`${app.url}/login`);
        await page.goto(`${app.url}/settings`);
        expect(new URL(page.url()).pathname).toBe('/login');
        const after = await page.evaluate(async () => (await fetch('/api/users')).status);
        expect(after).toBe(401);
      } finally {
        await page.close();
      }
    }, 30_000);
  });
}
