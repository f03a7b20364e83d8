/**
 * The admin-portal link route (`createPortalLinkHandler`) on a real HTTP server, with the real
 * `@scalekit-sdk/node` client against the fake Scalekit: who may have a link, what a link looks
 * like, that it is never cached, and what the browser sees when Scalekit fails.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPortalLinkHandler, type PortalLinkFailure, writeNodeResponse } from '@org/scim-core';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

/** The app's own session check, as a real app would do it: here a cookie naming the organizations. */
function sessionOrganizations(request: IncomingMessage): string[] | null {
  const cookie = /(?:^|;\s*)admin_of=([^;]*)/.exec(request.headers.cookie ?? '')?.[1];
  if (cookie === undefined) return null;
  return decodeURIComponent(cookie).split(',').filter(Boolean);
}

let fake: FakeScalekit;
let acme: string;
let globex: string;
const failures: PortalLinkFailure[] = [];

async function serve(
  client: ScalekitClient,
  authorize = sessionOrganizations,
): Promise<{ url: string; server: Server }> {
  const handler = createPortalLinkHandler<IncomingMessage>({
    client,
    authorize,
    onError: (failure) => void failures.push(failure),
  });
  const server = createServer((request, response) => {
    handler
      .respond(request, { method: request.method ?? 'GET', url: request.url ?? '/' })
      .then((answer) => writeNodeResponse(response, answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/admin-portal/link`, server };
}

let app: { url: string; server: Server };
const servers: Server[] = [];

beforeAll(async () => {
  fake = await startFakeScalekit();
  acme = fake.addOrganization({ displayName: 'Acme' }).id;
  globex = fake.addOrganization({ displayName: 'Globex' }).id;
  fake.addDirectory(acme);
  app = await serve(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret));
  servers.push(app.server);
});

afterAll(async () => {
  for (const server of servers) server.close();
  await fake.close();
});

beforeEach(() => {
  failures.length = 0;
});

const ask = (url: string, organizations?: string, init: RequestInit = {}) =>
  fetch(url, {
    ...init,
    headers: { ...(organizations !== undefined && { cookie: `admin_of=${encodeURIComponent(organizations)}` }) },
  });

describe('the admin-portal link route', () => {
  it('answers a fresh single-use link for the signed-in admin’s organization, never cacheable', async () => {
    const before = fake.portalLinks().length;
    const first = await ask(app.url, acme);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    const link = (await first.json()) as { location: string; expiresAt: string };
    expect(Object.keys(link).sort()).toEqual(['expiresAt', 'location']);
    expect(new URL(link.location).origin).toBe(fake.url);
    const ttl = Date.parse(link.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(61_000);

    // Every request generates a new link: nothing is cached, in the route or in Scalekit.
    const second = (await (await ask(app.url, acme)).json()) as { location: string };
    expect(second.location).not.toBe(link.location);
    const issued = fake.portalLinks().slice(before);
    expect(issued.map((l) => [l.organizationId, l.location])).toEqual([
      [acme, link.location],
      [acme, second.location],
    ]);

    // The link opens the portal once.
    expect((await fetch(link.location)).status).toBe(200);
    expect((await fetch(link.location)).status).toBe(410);
  });

  it('refuses a request without a signed-in admin (401) and asks Scalekit for nothing', async () => {
    const before = fake.portalLinks().length;
    const answer = await ask(app.url);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(await answer.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect(fake.portalLinks().length).toBe(before);
    expect(failures).toMatchObject([{ status: 401, code: 'unauthorized' }]);
  });

  it('refuses another organization named in the query string (403), and an admin of none', async () => {
    const before = fake.portalLinks().length;
    const other = await ask(`${app.url}?organization_id=${globex}`, acme);
    expect(other.status).toBe(403);
    const body = (await other.json()) as { error: { code: string } };
    expect(body.error.code).toBe('forbidden');
    expect((await ask(app.url, '')).status).toBe(403);
    expect(fake.portalLinks().length).toBe(before);
  });

  it('lets an admin of several organizations choose one, and asks which when none is named', async () => {
    const both = `${acme},${globex}`;
    const unnamed = await ask(app.url, both);
    expect(unnamed.status).toBe(400);
    expect(((await unnamed.json()) as { error: { code: string } }).error.code).toBe('organization_required');
    const chosen = await ask(`${app.url}?organization_id=${globex}`, both);
    expect(chosen.status).toBe(200);
    expect(fake.portalLinks().at(-1)?.organizationId).toBe(globex);
  });

  it('answers 405 to other methods and 500 when the authorize hook throws', async () => {
    const put = await ask(app.url, acme, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    const broken = await serve(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret), () => {
      throw new Error('session store down');
    });
    servers.push(broken.server);
    const answer = await ask(broken.url, acme);
    expect(answer.status).toBe(500);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('authorization_failed');
    expect(failures.at(-1)?.error).toBeInstanceOf(Error);
  });
});

describe('the admin-portal link route when Scalekit fails', () => {
  const code = async (response: Response) =>
    ((await response.json()) as { error: { code: string; message: string } }).error;

  it('answers 404 for an organization Scalekit does not know', async () => {
    const answer = await ask(app.url, 'org_missing');
    expect(answer.status).toBe(404);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect((await code(answer)).code).toBe('organization_not_found');
  });

  it('answers 502 with a hint when the app’s Scalekit credentials are wrong', async () => {
    const wrong = await serve(new ScalekitClient(fake.url, fake.clientId, 'not-the-secret'));
    servers.push(wrong.server);
    const answer = await ask(wrong.url, acme);
    expect(answer.status).toBe(502);
    const error = await code(answer);
    expect(error.code).toBe('scalekit_unauthorized');
    expect(error.message).toMatch(/SCALEKIT_CLIENT_SECRET/);
    expect(error.message).not.toMatch(/not-the-secret/);
  });

  it('answers 429 when rate limited and 503 when Scalekit is unavailable', async () => {
    fake.faults.rateLimit({ method: 'GeneratePortalLink' });
    const limited = await ask(app.url, acme);
    expect(limited.status).toBe(429);
    expect((await code(limited)).code).toBe('scalekit_rate_limited');
    fake.faults.clear();

    // The SDK retries Unavailable by itself (with back-off); fail every attempt.
    fake.faults.unavailable({ method: 'GeneratePortalLink', times: 100 });
    const down = await ask(app.url, acme);
    expect(down.status).toBe(503);
    expect((await code(down)).code).toBe('scalekit_unavailable');
    // And the route recovers once Scalekit does.
    fake.faults.clear();
    expect((await ask(app.url, acme)).status).toBe(200);
  }, 30_000);
});
