import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

export default defineConfig([
  // The programmatic entry (`runCli`), ESM and CommonJS with declarations like every package. Its
  // clean spares the bin, which the second build writes into the same folder at the same time.
  // `shims` gives the CommonJS build `import.meta.url`, which resolves the app's optional store package.
  { ...packageBuild, entry: ['src/index.ts'], shims: true, clean: ['!cli.js', '!cli.js.map'] },
  // The `scim-sync` bin: ESM only, executable.
  {
    ...packageBuild,
    entry: ['src/cli.ts'],
    format: ['esm'],
    dts: false,
    clean: false,
    banner: { js: '#!/usr/bin/env node' },
  },
]);
