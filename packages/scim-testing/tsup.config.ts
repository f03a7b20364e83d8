import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/conformance.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  external: ['vitest'],
  sourcemap: true,
  clean: true,
  target: 'node20',
});
