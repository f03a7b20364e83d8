import { defineConfig } from 'vitest/config';

// Some tests compile or run README snippets against the built package: seconds alone, more on a busy 2-core CI.
export default defineConfig({ test: { include: ['test/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 } });
