import type { Options } from 'tsup';

/** What every published package builds: ESM and CommonJS for Node 20, with declarations for both. */
export const packageBuild: Options = {
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
};
