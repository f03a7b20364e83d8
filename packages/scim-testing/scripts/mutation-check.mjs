/**
 * The store conformance suite's mutation check, run by `pnpm test`: plants each fault of
 * `memory-mutants.mjs` in a copy of `memoryStore()` and runs the suite against it. Every mutant
 * must fail at least one test; the unchanged copy must pass them all (else the check proves
 * nothing). Exits non-zero naming each surviving mutant, each mutant whose text no longer matches
 * memory.ts, and each that does not load.
 *
 * Copies go to test/.tmp/mutants (ignored by git); memory.ts itself is never written. A copy
 * imports the rest of scim-core's source where the original lives, and the suite from src/.
 *
 *   node scripts/mutation-check.mjs [name …]   (names: only those mutants)
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVitest } from 'vitest/node';
import { MUTANT_HELPERS, MUTANTS } from './memory-mutants.mjs';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const memorySource = resolve(packageDir, '../scim-core/src/store/memory.ts');
const suiteSource = join(packageDir, 'src/store-conformance.ts');
const workDir = join(packageDir, 'test/.tmp/mutants');
const CONTROL = 'unchanged';

/** `source` with each of the mutant's replacements, or the reason it no longer applies. */
function mutate(source, mutant) {
  let text = source;
  for (const [i, [from, to]] of mutant.replace.entries()) {
    const matches = text.split(from).length - 1;
    if (matches !== 1) {
      return { error: `replacement ${i + 1} matches memory.ts ${matches} times, not once: ${JSON.stringify(from)}` };
    }
    text = text.replace(from, () => to);
  }
  return { text: `${text}\n${MUTANT_HELPERS}` };
}

/** The copy imports memory.ts's neighbours from scim-core's source, where they are. */
function rewireImports(text) {
  return text.replace(/from '(\.\.?\/[^']+)\.js'/g, (_, path) => {
    const target = resolve(dirname(memorySource), `${path}.ts`);
    if (!existsSync(target)) throw new Error(`memory.ts imports ${path}.js, and ${target} does not exist`);
    return `from ${JSON.stringify(target)}`;
  });
}

function writeMutant(name, text) {
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.ts'), rewireImports(text));
  const file = join(workDir, `${name}.mutant.ts`);
  writeFileSync(
    file,
    [
      `import { runStoreConformanceSuite } from ${JSON.stringify(suiteSource)};`,
      `import { memoryStore } from './${name}/memory.ts';`,
      '',
      `runStoreConformanceSuite(${JSON.stringify(name)}, { create: () => memoryStore() });`,
      '',
    ].join('\n'),
  );
  return file;
}

async function main() {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !MUTANTS.some((m) => m.name === name));
  if (unknown.length > 0) throw new Error(`no such mutant: ${unknown.join(', ')}`);
  const mutants = only.length > 0 ? MUTANTS.filter((m) => only.includes(m.name)) : MUTANTS;

  const started = performance.now();
  const source = readFileSync(memorySource, 'utf8');
  rmSync(workDir, { recursive: true, force: true });
  const problems = [];
  const files = new Map([[writeMutant(CONTROL, source), CONTROL]]);
  for (const mutant of mutants) {
    const { text, error } = mutate(source, mutant);
    if (error) problems.push(`${mutant.name}: ${error}`);
    else files.set(writeMutant(mutant.name, text), mutant.name);
  }

  const vitest = await startVitest('test', [...files.keys()], {
    config: false,
    root: packageDir,
    include: ['test/.tmp/mutants/*.mutant.ts'],
    watch: false,
    reporters: [{}],
    // Some faults make a test wait for what never comes; fail it sooner.
    testTimeout: 10_000,
  });
  const outcomes = new Map();
  for (const module of vitest?.state.getTestModules() ?? []) {
    const name = files.get(module.moduleId);
    if (name === undefined) continue;
    const failed = [...module.children.allTests('failed')].map((test) => test.fullName);
    const errors = module.errors().map((error) => error.message);
    outcomes.set(name, { failed, errors, ran: [...module.children.allTests()].length });
  }
  await vitest?.close();
  // startVitest sets a failing exit code for the failed tests, which every killed mutant has: this
  // script's verdict is its own.
  process.exitCode = 0;

  const control = outcomes.get(CONTROL);
  if (!control || control.ran === 0 || control.failed.length > 0 || control.errors.length > 0) {
    problems.push(
      `the unchanged memoryStore() fails the suite, so no mutant proves anything: ${[
        ...(control?.failed ?? ['it did not run']),
        ...(control?.errors ?? []),
      ].join('; ')}`,
    );
  }
  for (const mutant of mutants) {
    const outcome = outcomes.get(mutant.name);
    if (problems.some((p) => p.startsWith(`${mutant.name}:`))) continue;
    if (!outcome || outcome.errors.length > 0 || outcome.ran === 0) {
      problems.push(`${mutant.name}: did not load or run (${outcome?.errors.join('; ') || 'no tests'})`);
    } else if (outcome.failed.length === 0) {
      problems.push(`${mutant.name}: SURVIVED, every test passes with ${mutant.fault}`);
    } else {
      const first = outcome.failed[0]?.replace(/^ProvisioningStore conformance: [^ ]+ /, '');
      console.log(
        `killed   ${mutant.name.padEnd(40)} ${String(outcome.failed.length).padStart(2)} failing, e.g. ${first}`,
      );
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  rmSync(workDir, { recursive: true, force: true });
  if (problems.length > 0) {
    for (const problem of problems) console.error(`FAILED   ${problem}`);
    console.error(`Mutation check failed in ${seconds} s: ${problems.length} problem(s), see above.`);
    process.exitCode = 1;
    return;
  }
  console.log(
    `Mutation check: all ${mutants.length} mutants of memoryStore() killed by the store conformance suite in ${seconds} s.`,
  );
}

main().catch((error) => {
  rmSync(workDir, { recursive: true, force: true });
  console.error(error);
  process.exitCode = 1;
});
