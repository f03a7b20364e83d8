/** What the CLI tests share: running it in-process or as the built bin, and a seeded fake Scalekit. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createEngine,
  createReconciler,
  createScalekitWebhookReceiver,
  type DirectoryEvent,
  type DirectoryGroup,
  type DirectoryUser,
  type GroupRef,
  memoryStore,
  type ProvisioningHandlers,
  type ProvisioningStore,
  receiveNodeRequest,
  scalekitDirectorySource,
  writeNodeResponse,
} from '@org/scim-core';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import { expect, onTestFinished } from 'vitest';
import { runCli } from '../src/index.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(PACKAGE_DIR, 'dist', 'cli.js');

export const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A fresh directory outside the workspace, removed when the test finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'scim-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A pretend stdout or stderr that keeps what is written. */
export function output(columns?: number) {
  const chunks: string[] = [];
  return {
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
    ...(columns !== undefined && { columns }),
    text: () => chunks.join(''),
  };
}

/** `runCli` in this process, with nothing of this process's environment. */
export async function run(
  argv: string[],
  options: { env?: Record<string, string>; isTTY?: boolean; signal?: AbortSignal; cwd?: string } = {},
): Promise<Ran> {
  const stdout = output();
  const stderr = output(100);
  const code = await runCli(argv, {
    stdout,
    stderr,
    env: options.env ?? {},
    isTTY: options.isTTY ?? false,
    signal: options.signal ?? new AbortController().signal,
    ...(options.cwd !== undefined && { cwd: options.cwd }),
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/**
 * This process's environment without anything that would point the CLI at a real Scalekit or
 * database, nor pnpm's NODE_PATH (which would let the child resolve packages an installed CLI could not).
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(SCALEKIT_|SCIM_SYNC_|DATABASE_URL$|NODE_PATH$)/.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

/** `node dist/cli.js …` (or another copy of the bin) as a child process; kills it and rejects after `timeoutMs`. */
export function runBin(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; bin?: string } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
      env: cleanEnv(options.env),
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `scim-sync ${args.join(' ')} did not exit within ${options.timeoutMs ?? 15_000} ms; stderr: ${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export interface Directory {
  fake: FakeScalekit;
  organizationId: string;
  directoryId: string;
  /** The three variables `reconcile` reads. */
  env: Record<string, string>;
}

/** A fake Scalekit on 127.0.0.1 with one organization whose directory holds `users` and `groups`. */
export async function startDirectory(seed: { users: number; groups: number }): Promise<Directory> {
  const fake = await startFakeScalekit();
  const organizationId = fake.addOrganization().id;
  const directoryId = fake.addDirectory(organizationId).id;
  fake.seed(organizationId, seed);
  return {
    fake,
    organizationId,
    directoryId,
    env: {
      SCALEKIT_ENVIRONMENT_URL: fake.url,
      SCALEKIT_CLIENT_ID: fake.clientId,
      SCALEKIT_CLIENT_SECRET: fake.clientSecret,
    },
  };
}

/**
 * The CLI installed on its own, as `npx scim-sync` has it: this package's dist/ and package.json in
 * `<fresh dir>/node_modules/@org/scim-cli`, next to its runtime dependencies (links to this
 * workspace's) and nothing else, so @org/scim-postgres (only a devDependency here) is not beside it.
 * Answers the path of its bin.
 */
export function installCliAlone(): string {
  const root = tempDir();
  const target = join(root, 'node_modules', '@org', 'scim-cli');
  mkdirSync(target, { recursive: true });
  cpSync(join(PACKAGE_DIR, 'dist'), join(target, 'dist'), { recursive: true });
  cpSync(join(PACKAGE_DIR, 'package.json'), join(target, 'package.json'));
  const { dependencies } = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const name of Object.keys(dependencies)) {
    const link = join(root, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(realpathSync(join(PACKAGE_DIR, 'node_modules', name)), link, 'dir');
  }
  return join(target, 'dist', 'cli.js');
}

/** One handler call the app's engine made, as far as the tests read it. */
export interface HandlerCall {
  handler: string;
  user?: DirectoryUser;
  group?: DirectoryGroup | GroupRef;
  changed?: readonly string[];
  reason?: string;
}

export interface Receiver {
  /** `http://127.0.0.1:<port>/webhooks/scalekit`. */
  url: string;
  secret: string;
  /** Every handler call, in order. */
  calls: HandlerCall[];
  /** The calls of one handler. */
  callsOf(handler: string): HandlerCall[];
}

/**
 * An app's webhook route on 127.0.0.1, as `@org/scim-core` builds it: the receiver (which verifies
 * the signature against `secret`) over an engine on a `memoryStore()` whose handlers record every
 * call. Closed when the test finishes.
 */
export async function startReceiver(secret: string): Promise<Receiver> {
  const calls: HandlerCall[] = [];
  const record =
    (handler: string) =>
    (change: {
      user?: DirectoryUser;
      group?: DirectoryGroup | GroupRef;
      changed?: readonly string[];
      reason?: string;
    }) => {
      calls.push({ handler, ...change });
    };
  const handlers: ProvisioningHandlers = {
    userCreated: record('userCreated'),
    userUpdated: record('userUpdated'),
    userDeactivated: record('userDeactivated'),
    userReactivated: record('userReactivated'),
    groupCreated: record('groupCreated'),
    groupUpdated: record('groupUpdated'),
    groupDeleted: record('groupDeleted'),
    membershipAdded: record('membershipAdded'),
    membershipRemoved: record('membershipRemoved'),
    directoryEnabled: () => {
      calls.push({ handler: 'directoryEnabled' });
    },
    directoryDisabled: () => {
      calls.push({ handler: 'directoryDisabled' });
    },
  };
  const receiver = createScalekitWebhookReceiver({
    engine: createEngine({ store: memoryStore(), handlers }),
    secret,
    onError: () => {},
  });
  const server = createServer((request, response) => {
    receiveNodeRequest(receiver, { request }).then(
      (answer) => writeNodeResponse(response, answer),
      () => response.writeHead(500).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/scalekit`,
    secret,
    calls,
    callsOf: (handler) => calls.filter((call) => call.handler === handler),
  };
}

/** A webhook's user snapshot for `diruser_webhook`, as `status`'s tests apply it. */
export function userEvent(id: string, organizationId: string, occurredAt: string, email: string): DirectoryEvent {
  return {
    type: 'user.upserted',
    id,
    organizationId,
    occurredAt,
    source: 'scalekit',
    sourceType: 'organization.directory.user_updated',
    environmentId: 'env_cli',
    user: {
      id: 'diruser_webhook',
      organizationId,
      email,
      active: true,
      groups: [],
      roles: [],
      attributes: {},
      customAttributes: {},
    },
  };
}

/**
 * What `scim-sync status` reads, written into `store` as an app writes it: a reconciliation of
 * `directory` (through the real SDK), one webhook event applied 2.5 s after it occurred, and one
 * whose handler failed. Answers the engine's clock (`at`), which the health figures are relative to.
 */
export async function provisionHealth(store: ProvisioningStore, directory: Directory): Promise<{ at: number }> {
  const { organizationId } = directory;
  const at = Date.now();
  let failing = false;
  const engine = createEngine({
    store,
    now: () => at,
    handlers: {
      userCreated: () => {},
      userUpdated: () => {
        if (failing) throw new Error('the app database refused the update');
      },
    },
  });
  const client = new ScalekitClient(directory.fake.url, directory.fake.clientId, directory.fake.clientSecret);
  const report = await createReconciler({ engine, source: scalekitDirectorySource(client) }).reconcile(organizationId);
  expect(report.status).toBe('completed');
  const applied = await engine.process(
    userEvent('evt_applied', organizationId, new Date(at - 2500).toISOString(), 'a@x.io'),
  );
  expect(applied.status).toBe('applied');
  failing = true;
  await expect(
    engine.process(userEvent('evt_failed', organizationId, new Date(at - 1000).toISOString(), 'b@x.io')),
  ).rejects.toThrow(/userUpdated/);
  return { at };
}

/**
 * What `scim-sync status --json` answers for the organization `provisionHealth` wrote: the health
 * both stores report the same way (a store's own parts are checked beside it).
 */
export function provisionedHealth(organizationId: string, at: number) {
  return {
    organizationId,
    supported: true,
    webhooks: {
      lastReceived: { eventId: 'evt_applied', outcome: 'applied', at: new Date(at).toISOString() },
      lastApplied: { eventId: 'evt_applied', occurredAt: new Date(at - 2500).toISOString() },
      lagMs: 2500,
    },
    reconciliation: { running: false, last: { kind: 'reconciliation', status: 'completed' } },
    failures: { last24h: 1, last: { eventId: 'evt_failed', code: 'handler_failed' } },
  };
}

/** An inbox entry of `organizationId` received a minute ago, parked with `parkedReason` when one is given. */
export function inboxEntry(organizationId: string, eventId: string, parkedReason?: string) {
  return {
    environmentId: 'env_1',
    organizationId,
    eventId,
    type: 'organization.directory.user_created',
    body: '{}',
    receivedAt: Date.now() - 60_000,
    ...(parkedReason !== undefined && { parkedReason }),
  };
}
