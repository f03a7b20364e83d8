/** Builds the fixture app with `next build` and serves it in this process, so routes share our globalThis. */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ScalekitWebhookReceiver, ScimServer } from '@org/scim-core';

const require = createRequire(import.meta.url);
const fixture = fileURLToPath(new URL('./fixture-app', import.meta.url));
const RECEIVER = Symbol.for('scim-sync.conformance.receiver');

export function setReceiver(receiver: ScalekitWebhookReceiver): void {
  (globalThis as Record<symbol, unknown>)[RECEIVER] = receiver;
}

const SCIM = Symbol.for('scim-sync.conformance.scim');

export function setScimServer(server: ScimServer): void {
  (globalThis as Record<symbol, unknown>)[SCIM] = server;
}

export async function startFixture(): Promise<{ url: string; close: () => Promise<void> }> {
  const build = spawnSync(process.execPath, [require.resolve('next/dist/bin/next'), 'build', fixture], {
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    encoding: 'utf8',
    timeout: 280_000,
  });
  if (build.status !== 0) throw new Error(`next build failed:\n${build.stdout}\n${build.stderr}`);
  // `next` is CommonJS; its default export is the factory.
  const next = require('next') as typeof import('next').default;
  const app = next({ dev: false, dir: fixture, hostname: '127.0.0.1' });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = createServer((request, response) => void handle(request, response));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
    },
  };
}
