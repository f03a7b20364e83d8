/**
 * An example copied out of the repository as its README says (`cp -r examples/<fw> my-app`, without
 * what a build or install left in it), and the check that it depends on nothing unpublished.
 */
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { WORKSPACE_ROOT } from './npm.js';
import { DEPENDENCY_FIELDS, type Manifest } from './publish.js';

/** What `cp -r` leaves behind: installs and build output, never part of an example's source. */
const LEFT_BEHIND = new Set(['node_modules', '.next', 'dist', '.turbo']);

export function copyExample(framework: string, destination: string): void {
  cpSync(join(WORKSPACE_ROOT, 'examples', framework), destination, {
    recursive: true,
    filter: (source) => !LEFT_BEHIND.has(basename(source)),
  });
}

/** The workspace's package folders, from the `packages:` globs of pnpm-workspace.yaml (`dir` or `dir/*`). */
function workspaceFolders(): string[] {
  const yaml = readFileSync(join(WORKSPACE_ROOT, 'pnpm-workspace.yaml'), 'utf8');
  const globs = (/^packages:\n((?:[ \t]+-.*\n?)+)/m.exec(yaml)?.[1] ?? '')
    .split('\n')
    .map((line) => line.replace(/^\s*-\s*/, '').replace(/^['"]|['"]$/g, ''))
    .filter((glob) => glob !== '');
  return globs.flatMap((glob) => {
    if (!glob.endsWith('/*')) return [join(WORKSPACE_ROOT, glob)];
    const parent = join(WORKSPACE_ROOT, glob.slice(0, -2));
    return existsSync(parent) ? readdirSync(parent).map((name) => join(parent, name)) : [];
  });
}

/** The names of this workspace's private packages (the examples, their tests, `bench`, …): never published. */
export function privateWorkspaceNames(): Set<string> {
  const names = new Set<string>();
  for (const folder of workspaceFolders()) {
    const path = join(folder, 'package.json');
    if (!existsSync(path)) continue;
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    if (manifest.private === true) names.add(manifest.name);
  }
  return names;
}

/**
 * A range npm resolves from a registry (`^0.1.0`, `~5.9.3`, `>=14`, `*`): no protocol (`workspace:`,
 * `file:`, `link:`, `npm:`, `git+https:`), no path, no `owner/repo`.
 */
const isRegistryRange = (range: string): boolean => !/[:/\\]/.test(range) && /^(?:[\d^~<>=*xX]|latest$)/.test(range);

/**
 * Every dependency of `manifest` that a user's `npm install` could not take from a registry: a
 * workspace-only range, an `@org/*` package that was not published, or a private workspace package.
 */
export function unpublishedDependencies(
  manifest: Manifest,
  published: ReadonlySet<string>,
  privateNames: ReadonlySet<string>,
): string[] {
  return DEPENDENCY_FIELDS.flatMap((field) =>
    Object.entries(manifest[field] ?? {}).flatMap(([name, range]) => {
      const where = `${field}.${name}: "${range}"`;
      if (!isRegistryRange(range)) return [`${where} is not a semver range npm takes from a registry`];
      if (name.startsWith('@org/') && !published.has(name)) return [`${where} is not a published @org package`];
      if (privateNames.has(name)) return [`${where} is a private package of this repository`];
      return [];
    }),
  );
}
