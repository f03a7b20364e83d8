import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** A store with a `close()` of its own, as the snippet's `./my-store.js` would export. */
const MY_STORE = `import { memoryStore, type ProvisioningStore } from '@org/scim-core';

export function myStore(): ProvisioningStore & { close(): Promise<void> } {
  return Object.assign(memoryStore(), { close: async () => {} });
}
`;

it('the store conformance suite README snippet type-checks against the built package', () => {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The store conformance suite'));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!snippet) throw new Error('README.md has no ts block under "## The store conformance suite"');
  const dir = join(packageDir, 'test', '.tmp', 'store-suite-readme');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'my-store.test.ts'), snippet);
  writeFileSync(join(dir, 'my-store.ts'), MY_STORE);

  const program = ts.createProgram([join(dir, 'my-store.test.ts')], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  });
  const problems = ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  expect(problems).toEqual([]);
});
