/**
 * pg-boss is an optional peer, so an app without it must type-check against this package with
 * `skipLibCheck: false`. A consumer project in a temporary folder installs the built package (its
 * package.json and dist, copied, so nothing resolves from this workspace's node_modules) next to
 * only what its types need: @org/scim-core, @types/pg and @types/node. No pg-boss. Then `tsc`, the
 * workspace's, checks an ESM and a CommonJS file importing each entry.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const app = mkdtempSync(join(tmpdir(), 'scim-postgres-types-'));

/** `node_modules/<name>` of the consumer, linked to where this workspace installed it. */
function link(name: string, from: string) {
  const target = join(app, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(realpathSync(join(from, 'node_modules', name)), target, 'dir');
}

/** A consumer project whose only source files are `files` (name → code). */
function project(name: string, files: Record<string, string>) {
  const dir = join(app, name);
  mkdirSync(dir);
  for (const [file, code] of Object.entries(files)) writeFileSync(join(dir, file), code);
  const compilerOptions = {
    strict: true,
    skipLibCheck: false,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    lib: ['es2023'],
    types: ['node'],
    noEmit: true,
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: Object.keys(files) }));
  return dir;
}

interface Diagnostic {
  file: string;
  code: string;
  message: string;
}

interface TypeCheck {
  status: number | null;
  output: string;
  /** `file(line,col): error TS…: message`, with `file` relative to the project. */
  errors: Diagnostic[];
  /** Why each file is in the program (`--explainFiles`): "Imported via 'x' from file 'y'", … */
  reasons: Map<string, string[]>;
}

/** Runs `tsc -p dir --explainFiles`. */
function typeCheck(dir: string): Promise<TypeCheck> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', dir, '--pretty', 'false', '--explainFiles'], { cwd: dir });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => {
      const errors: Diagnostic[] = [];
      const reasons = new Map<string, string[]>();
      let current: string[] | undefined;
      for (const line of output.split('\n')) {
        const error = /^(.+?)\(\d+,\d+\): error (TS\d+): (.*)$/.exec(line);
        if (error) {
          const [, file = '', code = '', message = ''] = error;
          errors.push({ file, code, message });
          current = undefined;
        } else if (/^\s/.test(line)) {
          current?.push(line.trim());
        } else if (line !== '') {
          current = [];
          reasons.set(line, current);
        }
      }
      resolve({ status, output, errors, reasons });
    });
  });
}

let result: TypeCheck;

const needsPgBoss = (error: Diagnostic) => error.code === 'TS2307' && error.message.includes("'pg-boss'");

/** What brought a file into the program, but for the module-format notes. */
const importersOf = (file: string) =>
  (result.reasons.get(file) ?? []).filter((reason) => !reason.startsWith('File is '));

const schedulerImport = /^Imported via '@org\/scim-postgres\/scheduler' from file 'scheduler\.[mc]ts'/;

/** Brought in by the scheduler's consumers only, never through the main entry. */
function onlyThroughScheduler(file: string) {
  const importers = importersOf(file);
  return importers.length > 0 && importers.every((reason) => schedulerImport.test(reason));
}

beforeAll(async () => {
  const installed = join(app, 'node_modules', '@org', 'scim-postgres');
  mkdirSync(installed, { recursive: true });
  cpSync(join(packageDir, 'package.json'), join(installed, 'package.json'));
  cpSync(join(packageDir, 'dist'), join(installed, 'dist'), { recursive: true });
  link('@org/scim-core', packageDir);
  link('@types/pg', packageDir);
  link('@types/node', join(packageDir, '../..'));

  // One program for both entries (checking @types/node and zod's types twice would double the
  // time); --explainFiles tells which entry brought each file in.
  const everything = (entry: string) => `export * from '${entry}';\n`;
  result = await typeCheck(
    project('app', {
      'main.mts': everything('@org/scim-postgres'),
      'main.cts': everything('@org/scim-postgres'),
      'scheduler.mts': everything('@org/scim-postgres/scheduler'),
      'scheduler.cts': everything('@org/scim-postgres/scheduler'),
    }),
  );
}, 60_000);

afterAll(() => rmSync(app, { recursive: true, force: true }));

describe('an app without pg-boss, type-checking with skipLibCheck: false', () => {
  it('type-checks everything @org/scim-postgres exports, from ESM and CommonJS', () => {
    expect(result.reasons.has('main.mts') && result.reasons.has('main.cts')).toBe(true);
    const errors = result.errors.filter((error) => !(needsPgBoss(error) && onlyThroughScheduler(error.file)));
    expect(errors, result.output).toEqual([]);
  });

  it('needs pg-boss for @org/scim-postgres/scheduler only', () => {
    const files = [...new Set(result.errors.filter(needsPgBoss).map((error) => error.file))];
    expect(files.map((file) => file.replace(/.*\/@org\/scim-postgres\//, '')).sort()).toEqual([
      'dist/scheduler.d.cts',
      'dist/scheduler.d.ts',
    ]);
    // Nothing the main entry imports reaches them.
    for (const file of files) {
      expect(importersOf(file), file).not.toEqual([]);
      expect(
        importersOf(file).filter((reason) => !schedulerImport.test(reason)),
        file,
      ).toEqual([]);
    }
    expect(result.status).not.toBe(0);
  });
});
