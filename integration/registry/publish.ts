/**
 * Publishing the workspace the way a release does (`pnpm publish -r`), to the local registry, and
 * reading back what was published.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_ROOT } from './npm.js';
import { type RunResult, run } from './processes.js';

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

export const DEPENDENCY_FIELDS = [
  'dependencies',
  'devDependencies',
  'peerDependencies',
  'optionalDependencies',
] as const satisfies readonly (keyof Manifest)[];

export interface WorkspacePackage {
  dir: string;
  manifest: Manifest;
}

/** Every package under `packages/*` that is not private: what a release publishes. */
export function publishablePackages(): WorkspacePackage[] {
  const root = join(WORKSPACE_ROOT, 'packages');
  return readdirSync(root)
    .map((name) => join(root, name))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest }))
    .filter(({ manifest }) => manifest.private !== true);
}

/** Throws unless every package was built: a release publishes `dist/`, and so must this test. */
export function assertBuilt(packages: readonly WorkspacePackage[]): void {
  const unbuilt = packages.filter(({ dir }) => !existsSync(join(dir, 'dist')));
  if (unbuilt.length > 0) {
    throw new Error(
      `${unbuilt.map(({ manifest }) => manifest.name).join(', ')} ha${unbuilt.length === 1 ? 's' : 've'} no dist/: build first (npx --yes pnpm@10 build), or run the README's test command, which builds them before this test.`,
    );
  }
}

/**
 * `pnpm publish -r` of `packages/*` to `registryUrl`, with the npmrc line Verdaccio needs to accept an
 * anonymous publish (any token for its host). Writes that npmrc into `dir`. Nothing else reaches the
 * registry: `@org` is the only scope sent there, and `--registry` names it for the rest.
 */
export function publishWorkspace(registryUrl: string, dir: string, timeoutMs: number): Promise<RunResult> {
  const host = registryUrl.replace(/^https?:/, '');
  const npmrc = join(dir, 'publish.npmrc');
  writeFileSync(npmrc, [`@org:registry=${registryUrl}`, `${host}:_authToken=anonymous-publish`, ''].join('\n'));
  const env: Record<string, string> = {};
  // Not the user environment: `npx --yes pnpm@10` reuses this machine's npx cache (in HOME).
  for (const name of ['PATH', 'HOME', 'USER', 'LANG', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && /_proxy$/i.test(name)) env[name] = value;
  }
  env.npm_config_userconfig = npmrc;
  return run(
    'npx',
    [
      '--yes',
      'pnpm@10',
      'publish',
      '--recursive',
      '--filter',
      './packages/*',
      '--no-git-checks',
      '--registry',
      registryUrl,
    ],
    { cwd: WORKSPACE_ROOT, env, timeoutMs },
  );
}

/** The registry's document for `name`: its versions' manifests as published. */
export async function packument(
  registryUrl: string,
  name: string,
): Promise<{ versions: Record<string, Manifest> } | undefined> {
  const response = await fetch(new URL(name.replace('/', '%2f'), registryUrl));
  if (response.status === 404) return undefined;
  if (!response.ok)
    throw new Error(`GET ${name} from the registry answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { versions: Record<string, Manifest> };
}

/** `field.name: range` for every dependency range that only means something inside this workspace. */
export function workspaceRanges(manifest: Manifest): string[] {
  return DEPENDENCY_FIELDS.flatMap((field) =>
    Object.entries(manifest[field] ?? {})
      .filter(([, range]) => /^(?:workspace|file|link|portal):/.test(range))
      .map(([name, range]) => `${field}.${name}: ${range}`),
  );
}
