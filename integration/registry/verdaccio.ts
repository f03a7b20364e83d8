/**
 * A local npm registry (Verdaccio 5, in this process, so it stops with the test even when the test
 * fails) on 127.0.0.1 with its storage in a temporary folder.
 *
 * It has no uplink at all: `@org/*` can only be what was published to it, never a same-named package
 * from npmjs. Users reach it for the `@org` scope only (`@org:registry=…`), and npm fetches every
 * other package from npmjs itself: proxying those through Verdaccio would copy hundreds of tarballs
 * into its storage on each run and prove nothing more.
 */
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { runServer } from 'verdaccio';
// Verdaccio's CLI sets its logger up from the configuration; `runServer` does not, and would log every request.
import { setup as setupLogger } from 'verdaccio/build/lib/logger/index.js';
import { freePort } from './processes.js';

export interface Registry {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  close(): Promise<void>;
}

/**
 * The configuration: anonymous read and publish of `@org/*` and nothing else (nobody can sign up, so
 * `$authenticated` is nobody), no uplink, no web UI.
 */
function configuration(storage: string) {
  return {
    storage,
    auth: { htpasswd: { file: join(storage, 'htpasswd'), max_users: -1 } },
    uplinks: {},
    packages: {
      '@org/*': { access: '$all', publish: '$all', unpublish: '$all' },
      '**': { access: '$all', publish: '$authenticated', unpublish: '$authenticated' },
    },
    web: { enable: false },
    middlewares: { audit: { enabled: false } },
    max_body_size: '100mb',
  };
}

/** Starts the registry with its storage and configuration under `dir`. */
export async function startRegistry(dir: string): Promise<Registry> {
  const configPath = join(dir, 'verdaccio.yaml');
  // JSON is YAML: Verdaccio parses a `.yaml` file either way.
  writeFileSync(configPath, JSON.stringify(configuration(join(dir, 'storage')), null, 2));
  setupLogger({ type: 'stdout', format: 'pretty', level: 'warn' });
  const port = await freePort();
  const server = (await runServer(configPath)) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
