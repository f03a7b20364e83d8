/**
 * "Copy an example cleanly" and "npm install" stay true: every package of packages/* is published
 * with `pnpm publish -r` to a local registry (Verdaccio, no uplink for @org), and then, in a folder
 * outside the repository, a library user installs and typechecks against what was published, and
 * each example is copied out as its README says, installed with npm, typechecked, started, and fed
 * a webhook from the published CLI and a SCIM user.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createScimUser, listUsers, signIn } from '../registry/app-client.js';
import { copyExample, privateWorkspaceNames, unpublishedDependencies } from '../registry/example-copy.js';
import { INSTALL_FLAGS, type NpmUser, npmUser } from '../registry/npm.js';
import {
  describeRun,
  freePort,
  type RunResult,
  type Service,
  startService,
  succeeded,
  tail,
  waitForPort,
} from '../registry/processes.js';
import {
  assertBuilt,
  type Manifest,
  packument,
  publishablePackages,
  publishWorkspace,
  workspaceRanges,
} from '../registry/publish.js';
import { formatTimings, steps, timed } from '../registry/steps.js';
import { type Registry, startRegistry } from '../registry/verdaccio.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

const PUBLISHED = publishablePackages();
const PUBLISHED_NAMES = new Set(PUBLISHED.map(({ manifest }) => manifest.name));

let root = '';
let registry: Registry | undefined;
let user: NpmUser;

/** The registry's URL, once it runs. */
const registryUrl = (): string => {
  if (!registry) throw new Error('the registry did not start');
  return registry.url;
};

/** A new npm project of the user's: `npm init -y`, as an ES module package. */
async function newProject(name: string): Promise<string> {
  const dir = join(user.root, name);
  mkdirSync(dir, { recursive: true });
  succeeded(await user.npm(['init', '-y'], dir, 30 * SECOND));
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...manifest, type: 'module' }, null, 2));
  return dir;
}

/** A command's stdout as JSON, or an error with its whole output. */
function parseOutput<T>(result: RunResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`expected JSON on stdout: ${describeRun(result)}`);
  }
}

beforeAll(async () => {
  assertBuilt(PUBLISHED);
  root = mkdtempSync(join(tmpdir(), 'scim-sync-registry-'));
  mkdirSync(join(root, 'registry'));
  registry = await timed('registry: start', () => startRegistry(join(root, 'registry')));
  user = npmUser(join(root, 'user'), registry.url);
}, 30 * SECOND);

afterAll(async () => {
  await registry?.close();
  // Five projects' node_modules, Next's among them: a while on a busy disk.
  if (root !== '') await rm(root, { recursive: true, force: true });
  console.log(`registry test, time per step:\n${formatTimings()}`);
}, 3 * MINUTE);

const release = steps('publish');

describe('a release published with pnpm publish -r to a registry with no uplink for @org', () => {
  release.step(
    'publishes every non-private package of packages/*',
    async () => {
      const names = [...PUBLISHED_NAMES];
      expect(names.filter((name) => !name.startsWith('@org/'))).toEqual([]);
      const result = await publishWorkspace(registryUrl(), root, 4 * MINUTE);
      expect(result.code, describeRun(result)).toBe(0);
      for (const { manifest } of PUBLISHED) {
        const document = await packument(registryUrl(), manifest.name);
        expect(Object.keys(document?.versions ?? {}), `${manifest.name} on the registry`).toContain(manifest.version);
      }
    },
    5 * MINUTE,
  );

  release.step(
    'publishes real versions in place of workspace: ranges',
    async () => {
      const core = PUBLISHED.find(({ manifest }) => manifest.name === '@org/scim-core')?.manifest as Manifest;
      const express = (await packument(registryUrl(), '@org/scim-express'))?.versions[core.version];
      expect(express?.dependencies?.['@org/scim-core']).toBe(`^${core.version}`);
      for (const { manifest } of PUBLISHED) {
        const published = (await packument(registryUrl(), manifest.name))?.versions[manifest.version] as Manifest;
        expect(workspaceRanges(published), `${manifest.name} as published`).toEqual([]);
      }
    },
    30 * SECOND,
  );

  release.step(
    'serves only what was published: nothing from npmjs, no unpublished @org name',
    async () => {
      expect(await packument(registryUrl(), 'react')).toBeUndefined();
      expect(await packument(registryUrl(), '@org/example-shared')).toBeUndefined();
    },
    30 * SECOND,
  );
});

describe('a library user, outside the repository, installing from the registry', () => {
  const library = steps('library', release);
  let dir = '';
  const tsc = (tsconfig: string) => user.npx(['tsc', '-p', tsconfig], dir, 2 * MINUTE);

  library.step(
    'installs @org/scim-core and @org/scim-postgres with npm, without pg-boss',
    async () => {
      dir = await newProject('library');
      const result = await user.npm(
        [
          'install',
          ...INSTALL_FLAGS,
          '@org/scim-core',
          '@org/scim-postgres',
          'pg',
          'typescript@5.9',
          '@types/node@20',
          '@types/pg',
        ],
        dir,
        5 * MINUTE,
      );
      expect(result.code, describeRun(result)).toBe(0);
      expect(existsSync(join(dir, 'node_modules/pg-boss')), 'pg-boss, an optional peer, was installed').toBe(false);
      writeFileSync(
        join(dir, 'index.ts'),
        [
          "import { createEngine, memoryStore, type ProvisioningStore } from '@org/scim-core';",
          "import { ADMIN_SESSION_COOKIE, loadConfig } from '@org/scim-core/app';",
          "import { postgresStore } from '@org/scim-postgres';",
          "import pg from 'pg';",
          '',
          'const url = process.env.DATABASE_URL;',
          'export const store: ProvisioningStore = url ? postgresStore({ pool: new pg.Pool({ connectionString: url }) }) : memoryStore();',
          'export const engine = createEngine({ store });',
          'export const sessionCookie: string = ADMIN_SESSION_COOKIE;',
          'export const config = () => loadConfig(process.env);',
          '',
        ].join('\n'),
      );
      const compilerOptions = { strict: true, skipLibCheck: false, noEmit: true, target: 'es2022', types: ['node'] };
      const tsconfig = (options: Record<string, unknown>) =>
        JSON.stringify({ compilerOptions: { ...compilerOptions, ...options }, files: ['index.ts'] }, null, 2);
      writeFileSync(join(dir, 'tsconfig.nodenext.json'), tsconfig({ module: 'nodenext' }));
      writeFileSync(join(dir, 'tsconfig.bundler.json'), tsconfig({ module: 'preserve', moduleResolution: 'bundler' }));
    },
    6 * MINUTE,
  );

  library.step(
    'typechecks with module nodenext, strict, skipLibCheck false (no pg-boss types needed)',
    async () => {
      const result = await tsc('tsconfig.nodenext.json');
      expect(result.code, describeRun(result)).toBe(0);
    },
    3 * MINUTE,
  );

  library.step(
    'typechecks with module preserve and moduleResolution bundler',
    async () => {
      const result = await tsc('tsconfig.bundler.json');
      expect(result.code, describeRun(result)).toBe(0);
    },
    3 * MINUTE,
  );

  library.step(
    'loads @org/scim-core with require() and with import',
    async () => {
      const required = await user.exec(
        'node',
        ['-e', "console.log(typeof require('@org/scim-core').createEngine)"],
        dir,
        30 * SECOND,
      );
      expect(required.code, describeRun(required)).toBe(0);
      expect(required.stdout.trim()).toBe('function');
      const imported = await user.exec(
        'node',
        [
          '--input-type=module',
          '-e',
          "const core = await import('@org/scim-core'); console.log(typeof core.createEngine)",
        ],
        dir,
        30 * SECOND,
      );
      expect(imported.code, describeRun(imported)).toBe(0);
      expect(imported.stdout.trim()).toBe('function');
    },
    MINUTE,
  );
});

/** The organization the examples' SCIM token provisions; the CLI's webhooks go to another one. */
const SCIM_ORGANIZATION = 'org_scim';

const tools = steps('cli', release);
let cliDir = '';
/**
 * The examples' signing secret, from `scim-sync secret` once that step passes. Until then a secret
 * of the same form, so a broken `secret` command fails its own step and not every example's.
 */
let webhookSecret = `whsec_${randomBytes(32).toString('base64')}`;

/** Runs the published CLI, `scim-sync args…`, from the user's CLI project. */
const scimSync = (args: readonly string[]) => user.npx(['scim-sync', ...args], cliDir, MINUTE);

describe('the published CLI, installed from the registry', () => {
  tools.step(
    'installs @org/scim-cli with npm',
    async () => {
      cliDir = await newProject('cli');
      const result = await user.npm(['install', ...INSTALL_FLAGS, '@org/scim-cli'], cliDir, 5 * MINUTE);
      expect(result.code, describeRun(result)).toBe(0);
    },
    6 * MINUTE,
  );

  tools.step(
    'makes a webhook signing secret with scim-sync secret',
    async () => {
      const result = await scimSync(['secret']);
      expect(result.code, describeRun(result)).toBe(0);
      const secret = result.stdout.trim();
      expect(secret, describeRun(result)).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      webhookSecret = secret;
    },
    MINUTE,
  );
});

const FRAMEWORKS = ['express', 'fastify', 'hono', 'next'] as const;

for (const framework of FRAMEWORKS) {
  describe(`examples/${framework}, copied out of the repository and installed with npm`, () => {
    const example = steps(framework, release);
    const scimToken = `scim_${randomBytes(16).toString('hex')}`;
    let dir = '';
    let port = 0;
    let app: Service | undefined;
    const base = () => `http://127.0.0.1:${port}`;
    /** The app's output, for a failure message. */
    const withAppOutput = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${message}\n--- the app's stdout and stderr\n${tail(app?.output() ?? '')}`, { cause: error });
      }
    };

    afterAll(async () => {
      await app?.stop();
    }, 30 * SECOND);

    example.step(
      'depends only on published @org packages and public npm packages',
      async () => {
        dir = join(user.root, framework, 'my-app');
        copyExample(framework, dir);
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
        expect(unpublishedDependencies(manifest, PUBLISHED_NAMES, privateWorkspaceNames())).toEqual([]);
      },
      30 * SECOND,
    );

    example.step(
      'installs with npm install',
      async () => {
        const result = await user.npm(['install', ...INSTALL_FLAGS], dir, 8 * MINUTE);
        expect(result.code, describeRun(result)).toBe(0);
      },
      9 * MINUTE,
    );

    example.step(
      'typechecks with its own tsconfig',
      async () => {
        const result = await user.npx(['tsc', '--noEmit'], dir, 3 * MINUTE);
        expect(result.code, describeRun(result)).toBe(0);
      },
      4 * MINUTE,
    );

    if (framework === 'next') {
      example.step(
        'builds with next build',
        async () => {
          const result = await user.npm(['run', 'build'], dir, 8 * MINUTE);
          expect(result.code, describeRun(result)).toBe(0);
        },
        9 * MINUTE,
      );
    }

    example.step(
      'starts with npm start and listens',
      async () => {
        port = await freePort();
        const host = ['-p', String(port), '-H', '127.0.0.1'];
        app = startService('npm', framework === 'next' ? ['start', '--', ...host] : ['start'], {
          cwd: dir,
          env: {
            ...user.env,
            PORT: String(port),
            HOST: '127.0.0.1',
            SCALEKIT_WEBHOOK_SECRET: webhookSecret,
            SCIM_BEARER_TOKEN: scimToken,
            SCIM_ORGANIZATION_ID: SCIM_ORGANIZATION,
            DEMO_LOGIN: '1',
          },
        });
        await waitForPort(app, port, 2 * MINUTE);
      },
      3 * MINUTE,
    );

    example.step(
      "takes a webhook from the published CLI and a SCIM user, and lists each to its organization's admin",
      () =>
        withAppOutput(async () => {
          const email = `ada.${framework}@example.com`;
          const trigger = await scimSync([
            'trigger',
            'user_created',
            '--url',
            `${base()}/webhooks/scalekit`,
            '--secret',
            webhookSecret,
            '-d',
            `email=${email}`,
            '--json',
          ]);
          expect(trigger.code, describeRun(trigger)).toBe(0);
          const sent = parseOutput<{ organizationId: string; userId: string; status: number }>(trigger);
          expect(sent, describeRun(trigger)).toMatchObject({ status: 200, email });
          expect(sent.organizationId).not.toBe(SCIM_ORGANIZATION);

          const scimEmail = `grace.${framework}@example.com`;
          const scimUserId = await createScimUser(base(), scimToken, scimEmail);

          const webhookUsers = await listUsers(base(), await signIn(base(), sent.organizationId));
          expect(webhookUsers).toEqual([expect.objectContaining({ id: sent.userId, email, active: true })]);
          const scimUsers = await listUsers(base(), await signIn(base(), SCIM_ORGANIZATION));
          expect(scimUsers).toEqual([expect.objectContaining({ id: scimUserId, email: scimEmail, active: true })]);
        }),
      MINUTE,
    );
  });
}
