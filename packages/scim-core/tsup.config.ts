import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

export default defineConfig({
  ...packageBuild,
  entry: { index: 'src/index.ts', 'app/index': 'src/app/index.ts' },
  // One copy of the shared code for both entries, in CommonJS too: `@org/scim-core/app` must throw and
  // catch the same `ReconcileError` class as `@org/scim-core`, not a bundled duplicate.
  splitting: true,
  // `import.meta.url` in the CommonJS build (`readPortalScript` resolves @org/scim-portal from here).
  shims: true,
});
