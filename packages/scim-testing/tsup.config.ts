import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

// vitest stays a peer: the conformance suites register their tests with the caller's vitest.
export default defineConfig({
  ...packageBuild,
  entry: ['src/index.ts', 'src/conformance.ts', 'src/fake-scalekit.ts'],
  external: ['vitest'],
});
