#!/usr/bin/env node
/**
 * What a package publishes, checked from its tarball: `pnpm pack` (the tarball `pnpm publish` and
 * `changeset publish` upload, with `workspace:` ranges replaced) into a temporary folder, then a
 * look inside. `npm publish --dry-run` would pack the package.json as it is, `workspace:` ranges
 * and all, so it is not the check.
 *
 * Fails when the tarball lacks LICENSE, README.md or package.json, when a file that `exports`,
 * `main`, `module`, `types`, `typesVersions` or `bin` names is not in it (a `files` list that misses
 * it), when a `workspace:` range survived, when the publishing metadata is missing, or when npm
 * would rewrite a `bin` path on publish (and warn about it).
 *
 * Usage, from a package's folder: `node ../../scripts/check-tarball.mjs` (run through pnpm, as
 * `check-package` is), or `node ../../scripts/check-tarball.mjs some.tgz` to check a tarball you have.
 * Plain Node, no dependencies.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const REQUIRED_FILES = ['package.json', 'README.md', 'LICENSE'];
const METADATA = ['license', 'repository', 'homepage', 'bugs', 'keywords', 'files', 'publishConfig'];
const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies'];

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const packageDir = process.cwd();
const given = process.argv[2];
const files = readTarball(given ?? pack(packageDir));
const problems = check(files, relative(root, packageDir));

const manifest = parseManifest(files);
const label = manifest ? `${manifest.name}@${manifest.version}` : basename(packageDir);
if (problems.length > 0) {
  console.error(`check-tarball: ${label} is not ready to publish:`);
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log(`check-tarball: ${label}: ${files.size} files, LICENSE, README.md and every file its exports name`);

/** `pnpm pack` into a fresh temporary folder; the tarball's bytes. */
function pack(dir) {
  const destination = mkdtempSync(join(tmpdir(), 'check-tarball-'));
  try {
    // `npm_execpath` is the pnpm running this script (`pnpm run check-package`, or turbo's pnpm).
    // biome-ignore lint/suspicious/noUndeclaredEnvVars: it picks the pnpm that packs, not what the check finds
    const execPath = process.env.npm_execpath ?? '';
    const [command, args] = /pnpm/.test(basename(execPath)) ? [process.execPath, [execPath]] : ['pnpm', []];
    const result = spawnSync(command, [...args, 'pack', '--pack-destination', destination], {
      cwd: dir,
      encoding: 'utf8',
    });
    if (result.error || result.status !== 0) {
      console.error(result.stdout ?? '', result.stderr ?? '');
      const why = result.error ? result.error.message : `exit code ${result.status}`;
      throw new Error(`check-tarball: pnpm pack failed (${why}); run it through pnpm: pnpm run check-package`);
    }
    const [tarball] = readdirSync(destination).filter((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`check-tarball: pnpm pack wrote no tarball into ${destination}`);
    return readFileSync(join(destination, tarball));
  } finally {
    rmSync(destination, { recursive: true, force: true });
  }
}

/**
 * The regular files of a gzipped tar, by path inside `package/`, each with its bytes. A dozen lines
 * of ustar: 512-byte headers, octal sizes, and the long-name records pax and GNU tar write.
 */
function readTarball(source) {
  const tar = gunzipSync(typeof source === 'string' ? readFileSync(source) : source);
  const entries = new Map();
  let longName;
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start, length) => header.toString('utf8', start, start + length).replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1] ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    const prefix = field(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    if (type !== '0' && type !== '7') continue;
    entries.set(name.replace(/^[^/]+\//, ''), body);
  }
  return entries;
}

function parseManifest(files) {
  const bytes = files.get('package.json');
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function check(files, directory) {
  const problems = [];
  for (const name of REQUIRED_FILES) {
    if (!files.has(name)) problems.push(`${name} is not in the tarball`);
  }
  const manifest = parseManifest(files);
  if (!manifest) return [...problems, 'package.json is missing or not JSON'];

  for (const target of namedFiles(manifest)) {
    const path = target.replace(/^\.\//, '');
    const found = path.includes('*') ? [...files.keys()].some((f) => globToRegExp(path).test(f)) : files.has(path);
    if (!found) problems.push(`${target} is named in package.json but not in the tarball (add it to "files"?)`);
  }

  for (const field of DEPENDENCY_FIELDS) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is still "${range}"`);
    }
  }

  // npm publish (which pnpm publish runs) rewrites a bin path that starts with ./ and warns about it.
  const bin = typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {});
  for (const [name, target] of Object.entries(bin)) {
    if (String(target).startsWith('./')) problems.push(`bin.${name} is "${target}": write it without ./, as npm does`);
  }

  for (const field of METADATA) {
    if (manifest[field] === undefined) problems.push(`package.json has no "${field}"`);
  }
  if (manifest.private) problems.push('package.json says "private": true');
  if (manifest.name?.startsWith('@') && manifest.publishConfig?.access !== 'public') {
    problems.push('a scoped package publishes as restricted unless publishConfig.access is "public"');
  }
  if (manifest.repository?.directory !== undefined && manifest.repository.directory !== directory) {
    problems.push(`repository.directory is "${manifest.repository.directory}", the package is in "${directory}"`);
  }
  return problems;
}

/** Every file path package.json points at: the entry fields, `bin`, `typesVersions` and `exports`. */
function namedFiles(manifest) {
  const paths = new Set();
  const collect = (value) => {
    if (typeof value === 'string') paths.add(value);
    else if (Array.isArray(value)) for (const item of value) collect(item);
    else if (value && typeof value === 'object') for (const item of Object.values(value)) collect(item);
  };
  for (const field of ['main', 'module', 'types', 'typings', 'bin', 'exports']) collect(manifest[field]);
  for (const map of Object.values(manifest.typesVersions ?? {})) collect(map);
  return paths;
}

function globToRegExp(pattern) {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}
