import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

// A browser package: each entry is one self-contained file (no shared chunks), so `dist/index.js`
// loads as is in a `<script type="module">` with no build step.
export default defineConfig({
  ...packageBuild,
  entry: ['src/index.ts', 'src/react.ts'],
  target: 'es2022',
  platform: 'browser',
  splitting: false,
});
