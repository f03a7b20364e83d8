/** `scim-sync fake-scalekit`: a child process the real SDK and a webhook endpoint talk to. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseScalekitEvent, verifyWebhook } from '@org/scim-core';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { BIN, cleanEnv, output } from './helpers.js';

interface Started {
  child: ChildProcessWithoutNullStreams;
  env: Record<string, string>;
  stderr: () => string;
}

const children: ChildProcessWithoutNullStreams[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const server of servers.splice(0)) server.close();
});

/** Spawns the bin and resolves once it printed "# ready", with the env lines it printed before. */
function startFake(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'fake-scalekit', ...args], { env: cleanEnv() });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "# ready" within 10 s: ${stdout}${stderr}`)), 10_000);
    child.on('exit', (code) => reject(new Error(`exited ${code} before ready: ${stdout}${stderr}`)));
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (!stdout.includes('# ready')) return;
      clearTimeout(timer);
      const env = Object.fromEntries(
        stdout
          .split('\n')
          .filter((line) => /^[A-Z_]+=/.test(line))
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      resolve({ child, env, stderr: () => stderr });
    });
  });
}

/** Resolves with the exit code, or rejects when the process is still running after `ms`. */
async function exitWithin(child: ChildProcessWithoutNullStreams, ms: number): Promise<number | null> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms),
  );
  const [code] = (await Promise.race([once(child, 'exit'), timeout])) as [number | null];
  return code;
}

describe('scim-sync fake-scalekit', () => {
  it('serves 500 seeded users to the real SDK with the credentials it prints, and exits 0 on SIGTERM', async () => {
    const { child, env } = await startFake(['--port', '0', '--users', '500', '--groups', '10']);

    expect(Object.keys(env)).toEqual([
      'SCALEKIT_ENVIRONMENT_URL',
      'SCALEKIT_CLIENT_ID',
      'SCALEKIT_CLIENT_SECRET',
      'SCALEKIT_WEBHOOK_SECRET',
      'SCIM_SYNC_ORGANIZATION_ID',
      'SCIM_SYNC_DIRECTORY_ID',
    ]);
    expect(env.SCALEKIT_ENVIRONMENT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.SCALEKIT_WEBHOOK_SECRET).toMatch(/^whsec_/);

    const client = new ScalekitClient(
      env.SCALEKIT_ENVIRONMENT_URL as string,
      env.SCALEKIT_CLIENT_ID as string,
      env.SCALEKIT_CLIENT_SECRET as string,
    );
    const organizationId = env.SCIM_SYNC_ORGANIZATION_ID as string;
    const directory = await client.directory.getPrimaryDirectoryByOrganizationId(organizationId);
    expect(directory.id).toBe(env.SCIM_SYNC_DIRECTORY_ID);
    const ids: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.directory.listDirectoryUsers(organizationId, directory.id, {
        pageSize: 100,
        ...(pageToken && { pageToken }),
      });
      ids.push(...page.users.map((u) => u.id));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    expect(ids).toHaveLength(500);
    expect(new Set(ids).size).toBe(500);
    const { groups } = await client.directory.listDirectoryGroups(organizationId, directory.id, { pageSize: 100 });
    expect(groups).toHaveLength(10);

    child.kill('SIGTERM');
    expect(await exitWithin(child, 3000)).toBe(0);
  });

  it('with --webhook-url, makes directory changes and delivers them signed with the printed secret', async () => {
    const received: { type: string; data: Record<string, unknown> }[] = [];
    let secret = '';
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          verifyWebhook({ secret, headers: request.headers, payload: body });
        } catch {
          response.writeHead(401).end();
          return;
        }
        const parsed = parseScalekitEvent(JSON.parse(body));
        if (parsed.success) received.push(parsed.value.event as never);
        response.writeHead(parsed.success ? 200 : 400).end();
      });
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/scalekit`;

    // The secret is only known once the fake printed it; the first change comes an interval later.
    const started = startFake([
      '--users',
      '3',
      '--groups',
      '2',
      '--webhook-url',
      url,
      '--interval',
      '100',
      '--changes',
      '4',
    ]);
    const { child, env, stderr } = await started;
    secret = env.SCALEKIT_WEBHOOK_SECRET as string;
    const deadline = Date.now() + 8000;
    while (received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));

    expect(received.map((e) => e.type)).toEqual([
      'organization.directory.user_created',
      'organization.directory.user_updated',
      'organization.directory.user_updated',
      'organization.directory.user_updated',
    ]);
    expect(received[0]?.data).toMatchObject({ id: 'diruser_live0001', email: 'new.hire1@example.com', active: true });
    expect(received[3]?.data).toMatchObject({ id: 'diruser_live0001', active: false });
    expect(stderr()).toContain('delivered organization.directory.user_created');
    expect(stderr()).toContain('HTTP 200');

    child.kill('SIGINT');
    expect(await exitWithin(child, 3000)).toBe(0);
  });

  it('runs in-process until its signal aborts, then closes', async () => {
    const controller = new AbortController();
    const stdout = output();
    const running = runCli(['fake-scalekit', '--users', '2', '--groups', '0', '--organization', 'org_4242'], {
      stdout,
      stderr: output(),
      env: {},
      isTTY: false,
      signal: controller.signal,
    });
    while (!stdout.text().includes('# ready')) await new Promise((r) => setTimeout(r, 10));
    expect(stdout.text()).toContain('SCIM_SYNC_ORGANIZATION_ID=org_4242\n');
    const url = /SCALEKIT_ENVIRONMENT_URL=(\S+)/.exec(stdout.text())?.[1] as string;
    expect((await fetch(`${url}/oauth/token`, { method: 'POST' })).status).toBe(400);

    controller.abort();
    expect(await running).toBe(0);
    await expect(fetch(`${url}/oauth/token`, { method: 'POST' })).rejects.toThrow();
  });

  it('rejects a bad --users with exit 2', async () => {
    const stderr = output();
    const code = await runCli(['fake-scalekit', '--users', 'many'], {
      stderr,
      stdout: output(),
      env: {},
      signal: new AbortController().signal,
    });
    expect(code).toBe(2);
    expect(stderr.text()).toContain('--users must be a whole number');
  });
});
