/** `scim-sync trigger`: a signed Scalekit event POSTed to a real node:http endpoint that verifies it. */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseScalekitEvent, type ScalekitEvent, verifyWebhook } from '@org/scim-core';
import { generateWebhookSecret } from '@org/scim-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run, runBin, tempDir } from './helpers.js';

interface Endpoint {
  url: string;
  secret: string;
  received: ScalekitEvent[];
  /** The status to answer a correctly signed delivery with. */
  status: number;
}

let endpoint: Endpoint;
let server: Server;

beforeEach(async () => {
  const state: Endpoint = { url: '', secret: generateWebhookSecret(), received: [], status: 200 };
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        verifyWebhook({ secret: state.secret, headers: request.headers, payload: body });
      } catch (error) {
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code: (error as { code: string }).code } }));
        return;
      }
      const parsed = parseScalekitEvent(JSON.parse(body));
      if (!parsed.success) {
        response.writeHead(400).end('does not match the schema');
        return;
      }
      state.received.push(parsed.value);
      response.writeHead(state.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ received: true, eventId: parsed.value.event.id }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/scalekit`;
  endpoint = state;
});
afterEach(() => {
  server.close();
});

const SHORT_NAMES = {
  user_created: 'organization.directory.user_created',
  user_updated: 'organization.directory.user_updated',
  user_deleted: 'organization.directory.user_deleted',
  group_created: 'organization.directory.group_created',
  group_updated: 'organization.directory.group_updated',
  group_deleted: 'organization.directory.group_deleted',
  directory_enabled: 'organization.directory_enabled',
  directory_disabled: 'organization.directory_disabled',
};

/** `scim-sync trigger <type> --url <the endpoint> --secret <its secret> …extra`, its state file in a fresh folder. */
const trigger = (type: string, ...extra: string[]) =>
  run(['trigger', type, '--url', endpoint.url, '--secret', endpoint.secret, ...extra], { cwd: tempDir() });

describe('scim-sync trigger', () => {
  it('sends a signed user_created whose data carries the --data overrides, and prints id, status and body', async () => {
    const { code, stdout } = await trigger(
      'user_created',
      '--organization',
      'org_777',
      '--data',
      'active=false',
      '--data',
      'address.locality=Oslo',
      '-d',
      'roles=[{"role_name":"admin"}]',
      '-d',
      'email=grace@example.com',
      '-d',
      'custom_attributes.cost_center.code="0042"',
    );

    expect(code).toBe(0);
    const [received] = endpoint.received;
    expect(received?.kind).toBe('directory');
    const event = received?.event as {
      id: string;
      type: string;
      organization_id: string;
      data: Record<string, unknown>;
    };
    expect(event.type).toBe('organization.directory.user_created');
    expect(event.organization_id).toBe('org_777');
    expect(event.data).toMatchObject({
      organization_id: 'org_777',
      active: false,
      address: { locality: 'Oslo', country: 'GB' },
      roles: [{ role_name: 'admin' }],
      email: 'grace@example.com',
      given_name: 'Ada',
      custom_attributes: { cost_center: { code: '0042' } },
    });
    expect(event.data.id).toMatch(/^diruser_\d{17}$/);
    expect(stdout).toContain(`${event.id} organization.directory.user_created → POST ${endpoint.url}`);
    expect(stdout).toContain('HTTP 200 OK');
    expect(stdout).toContain(`{"received":true,"eventId":"${event.id}"}`);
  });

  it.each(Object.entries(SHORT_NAMES))('builds a %s that matches Scalekit’s schema', async (short, full) => {
    const { code, stderr } = await trigger(short);
    expect(stderr).not.toContain('Warning');
    expect(code).toBe(0);
    expect(endpoint.received.map((r) => r.event.type)).toEqual([full]);
  });

  it('accepts the full type name and the secret from SCALEKIT_WEBHOOK_SECRET', async () => {
    const { code } = await run(['trigger', 'organization.directory.group_deleted', '--url', endpoint.url], {
      env: { SCALEKIT_WEBHOOK_SECRET: endpoint.secret },
      cwd: tempDir(),
    });
    expect(code).toBe(0);
    expect(endpoint.received[0]?.event).toMatchObject({
      type: 'organization.directory.group_deleted',
      object: 'DirectoryGroup',
    });
  });

  it('exits 1 and prints the body when the endpoint answers 401', async () => {
    const { code, stdout } = await run(
      ['trigger', 'user_updated', '--url', endpoint.url, '--secret', generateWebhookSecret()],
      { cwd: tempDir() },
    );
    expect(code).toBe(1);
    expect(stdout).toContain('HTTP 401 Unauthorized');
    expect(stdout).toContain('{"error":{"code":"invalid_signature"}}');
    expect(endpoint.received).toEqual([]);
  });

  it('exits 1 on any non-2xx, and when nothing answers', async () => {
    endpoint.status = 503;
    expect((await trigger('user_created')).code).toBe(1);
    server.close();
    const refused = await trigger('user_created');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`no answer from ${endpoint.url}`);
  });

  it('warns, and still sends, when an override breaks the schema', async () => {
    const { code, stderr } = await trigger('user_created', '-d', 'active="yes"');
    expect(stderr).toContain('Warning: with these --data overrides the event no longer matches Scalekit');
    expect(stderr).toContain('active');
    expect(code).toBe(1); // this endpoint answers 400 to an event that does not match the schema
  });

  it('exits 2 listing the valid types for an unknown one', async () => {
    const { code, stderr } = await trigger('user_exploded');
    expect(code).toBe(2);
    expect(stderr).toContain('unknown event type "user_exploded"');
    for (const [short, full] of Object.entries(SHORT_NAMES)) expect(stderr).toContain(`${short.padEnd(20)}${full}`);
  });

  it('exits 2 without a secret, a URL, or with a key that would reach the prototype', async () => {
    expect((await run(['trigger', 'user_created', '--url', endpoint.url])).stderr).toContain(
      '--secret <whsec_…> is required',
    );
    expect((await run(['trigger', 'user_created', '--secret', endpoint.secret])).stderr).toContain(
      '--url <webhook url> is required',
    );
    const polluting = await trigger('user_created', '-d', '__proto__.admin=true');
    expect(polluting.code).toBe(2);
    expect(({} as { admin?: unknown }).admin).toBeUndefined();
    expect(endpoint.received).toEqual([]);
  });

  it('works from the built bin', async () => {
    const { code, stdout } = await runBin(['trigger', 'directory_enabled', '--url', endpoint.url], {
      env: { SCALEKIT_WEBHOOK_SECRET: endpoint.secret },
      cwd: tempDir(),
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^evt_\d+ organization\.directory_enabled → POST /);
    expect(endpoint.received[0]?.event.type).toBe('organization.directory_enabled');
  });
});
