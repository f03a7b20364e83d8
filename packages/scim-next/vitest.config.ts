import { defineConfig } from 'vitest/config';

// `next build` of the fixture app takes a minute or two on a small machine.
export default defineConfig({ test: { include: ['test/**/*.test.ts'], hookTimeout: 300_000, testTimeout: 60_000 } });
