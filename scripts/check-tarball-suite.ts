/**
 * The tests of scripts/check-tarball.mjs, which `check-package` ends with: it looks inside the
 * tarball pnpm would publish. Each case packs a copy of the package (empty dist files, the
 * package.json as `pnpm pack` rewrites it) with something left out, using the system's tar, and
 * checks that the script refuses it, saying what. Every published package runs them on itself:
 * `runCheckTarballSuite(new URL('..', import.meta.url), { entry })`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./check-tarball.mjs', import.meta.url));

interface Manifest {
  exports: Record<string, string | Record<string, Record<string, string>>>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/**
 * Registers the cases for the package at `packageUrl` (its folder). `entry` is the exports-map entry
 * a `files` list is shown to miss (`index`; `scheduler` where a second entry is the likelier miss).
 */
export function runCheckTarballSuite(packageUrl: URL, { entry = 'index' }: { entry?: string } = {}): void {
  const packageDir = fileURLToPath(packageUrl);
  const work = mkdtempSync(join(tmpdir(), 'check-tarball-test-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const source = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as Manifest & { name: string };
  const shortName = source.name.replace('@org/', '');

  /** A `workspace:` range as `pnpm pack` writes it: `workspace:^` is `^<version>`, `workspace:*` the version. */
  function published(dependencies: Record<string, string>): Record<string, string> {
    return Object.fromEntries(
      Object.entries(dependencies).map(([name, range]) => {
        if (!range.startsWith('workspace:')) return [name, range];
        const manifest = join(packageDir, '..', name.replace('@org/', ''), 'package.json');
        const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
        const prefix = range.slice('workspace:'.length).replace('*', '');
        return [name, `${prefix}${version}`];
      }),
    );
  }
  /** The package.json in the tarball. */
  const packed: Manifest = {
    ...source,
    dependencies: published(source.dependencies),
    devDependencies: published(source.devDependencies),
  };

  /** Every dist file the exports map names, e.g. `dist/index.d.cts`. */
  const exportedFiles = Object.values(packed.exports)
    .flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target).flatMap(Object.values)))
    .map((path) => path.replace(/^\.\//, ''))
    .filter((path) => path.startsWith('dist/'));

  let cases = 0;
  function checkTarball(files: Record<string, string>) {
    const dir = join(work, `case-${++cases}`);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, 'package', path)), { recursive: true });
      writeFileSync(join(dir, 'package', path), content);
    }
    const tarball = join(dir, 'package.tgz');
    execFileSync('tar', ['-czf', tarball, '-C', dir, 'package']);
    const { status, stdout, stderr } = spawnSync(process.execPath, [script, tarball], {
      cwd: packageDir,
      encoding: 'utf8',
    });
    return { status, output: stdout + stderr };
  }

  const complete = (): Record<string, string> => ({
    'package.json': JSON.stringify(packed, null, 2),
    'README.md': readFileSync(join(packageDir, 'README.md'), 'utf8'),
    LICENSE: readFileSync(join(packageDir, 'LICENSE'), 'utf8'),
    ...Object.fromEntries(exportedFiles.map((path) => [path, ''])),
  });

  describe('the tarball check (scripts/check-tarball.mjs)', () => {
    it('accepts the tarball of this package with every file it names', () => {
      expect(exportedFiles).toContain(`dist/${entry}.d.cts`);
      const { status, output } = checkTarball(complete());
      expect({ status, output }).toMatchObject({ status: 0, output: expect.stringContaining(`${source.name}@`) });
    });

    it('refuses a tarball without LICENSE', () => {
      const { LICENSE: _, ...files } = complete();
      const { status, output } = checkTarball(files);
      expect(status).toBe(1);
      expect(output).toContain('LICENSE is not in the tarball');
    });

    it('refuses a tarball without README.md', () => {
      const { 'README.md': _, ...files } = complete();
      const { status, output } = checkTarball(files);
      expect(status).toBe(1);
      expect(output).toContain('README.md is not in the tarball');
    });

    it('refuses a tarball whose "files" missed an entry the exports map names', () => {
      const files = Object.fromEntries(
        Object.entries(complete()).filter(([path]) => !path.startsWith(`dist/${entry}`)),
      );
      const { status, output } = checkTarball(files);
      expect(status).toBe(1);
      for (const path of [`${entry}.js`, `${entry}.cjs`, `${entry}.d.ts`, `${entry}.d.cts`]) {
        expect(output).toContain(`./dist/${path} is named in package.json but not in the tarball`);
      }
    });

    it('refuses a bin path npm publish would rewrite (./dist/…, which it warns about)', () => {
      const withBin = { ...packed, bin: { [shortName]: './dist/index.js' } };
      const { status, output } = checkTarball({ ...complete(), 'package.json': JSON.stringify(withBin) });
      expect(status).toBe(1);
      expect(output).toContain(`bin.${shortName} is "./dist/index.js": write it without ./`);
    });

    it('refuses a package.json that kept a workspace: range or lost its publishing metadata', () => {
      const { publishConfig: _, ...rest } = JSON.parse(JSON.stringify(source)) as Manifest & { publishConfig: unknown };
      const { status, output } = checkTarball({ ...complete(), 'package.json': JSON.stringify(rest) });
      expect(status).toBe(1);
      expect(output).toContain('dependencies.@org/scim-core is still "workspace:^"');
      expect(output).toContain('package.json has no "publishConfig"');
    });
  });
}
