/**
 * What keeps the examples copyable, checked statically in milliseconds (the registry test in
 * `integration/` proves it for real, by publishing, installing and starting each copy):
 *
 * - an example imports only packages its own `package.json` names (or Node's built-ins), and names
 *   `@org/*` packages only by a version range their published version satisfies: no `workspace:`,
 *   `file:` or `link:`, nothing private;
 * - the app's own code, which every example carries so that each copies alone (`users.ts`,
 *   `provisioning.ts`, `postgres.ts`, `mysql.ts`), is the same in all four: a fix to one reaches every copy.
 *   Next.js's copies differ only in relative imports without `.js` (what Turbopack resolves).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const examples = ['express', 'fastify', 'hono', 'next'] as const;
const appCode = ['users.ts', 'provisioning.ts', 'postgres.ts', 'mysql.ts'] as const;
const codeDir = (example: string) => join(root, 'examples', example, example === 'next' ? 'lib' : 'src');

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = (path: string): Manifest => JSON.parse(readFileSync(path, 'utf8')) as Manifest;

/** The workspace's own packages, by name. */
const published = new Map(
  readdirSync(join(root, 'packages')).map((dir) => {
    const manifest = readJson(join(root, 'packages', dir, 'package.json'));
    return [manifest.name, manifest] as const;
  }),
);

/** Every `.ts`/`.tsx`/`.mjs` file of an example, without `node_modules` and build output. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (['node_modules', '.next', 'dist', '.turbo'].includes(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|tsx|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The package a bare import specifier names (`@org/scim-core/app` → `@org/scim-core`), or undefined for relative and built-in ones. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier))
    return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** `^0.1.0` / `~0.1.0` / `0.1.0` against a version, as npm reads them for 0.x and 1+ (all the examples use). */
function satisfies(range: string, version: string): boolean {
  const match = /^([\^~]?)(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (!match) return false;
  const [, op, ...wanted] = match as unknown as [string, string, string, string, string];
  const [major, minor, patch] = wanted.map(Number) as [number, number, number];
  const [vMajor, vMinor, vPatch] = version.split('.').map(Number) as [number, number, number];
  const atLeast = vMajor > major || (vMajor === major && (vMinor > minor || (vMinor === minor && vPatch >= patch)));
  if (!atLeast) return false;
  if (op === '') return vMajor === major && vMinor === minor && vPatch === patch;
  if (op === '~' || major === 0)
    return vMajor === major && vMinor === minor && (op === '~' || minor > 0 || vPatch === patch);
  return vMajor === major;
}

describe.each(examples)('examples/%s copies out of the repository', (example) => {
  const dir = join(root, 'examples', example);
  const manifest = readJson(join(dir, 'package.json'));
  const declared = { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.devDependencies };

  it('names every dependency by a registry version range, and every @org one is published at a version in it', () => {
    for (const [name, range] of Object.entries(declared)) {
      expect(range, `${name}`).not.toMatch(/^(workspace|file|link|portal|git|github):/);
      if (!name.startsWith('@org/')) continue;
      const own = published.get(name);
      expect(own, `${name} is not a package of this repository`).toBeDefined();
      expect(own?.private, `${name} is private: a copy could not install it`).not.toBe(true);
      expect(satisfies(range, own?.version ?? ''), `${name}@${range} misses the published ${own?.version}`).toBe(true);
    }
  });

  it('imports only what its package.json names', () => {
    const undeclared: string[] = [];
    for (const file of sources(dir)) {
      const text = readFileSync(file, 'utf8');
      for (const [, specifier] of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
        const name = packageOf(specifier as string);
        if (name !== undefined && !Object.hasOwn(declared, name))
          undeclared.push(`${relative(dir, file)}: ${specifier}`);
      }
    }
    expect(undeclared).toEqual([]);
  });
});

describe.each(appCode)("the app's own %s", (file) => {
  const reference = readFileSync(join(codeDir('hono'), file), 'utf8');
  it.each(examples.filter((example) => example !== 'hono'))(
    'is the same in examples/%s as in examples/hono',
    (example) => {
      let text = readFileSync(join(codeDir(example), file), 'utf8');
      // Next.js's copies import `./users` where the others import `./users.js`.
      const expected = example === 'next' ? reference.replace(/(['"]\.{1,2}\/[^'"]+)\.js(['"])/g, '$1$2') : reference;
      text = text.replace(/\r\n/g, '\n');
      expect(text).toBe(expected);
    },
  );
});
