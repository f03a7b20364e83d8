import { defineConfig } from 'vitest/config';

// examples/next's test runs `next build` when the build is missing or older than the sources.
export default defineConfig({ test: { include: ['test/**/*.test.ts'], hookTimeout: 300_000 } });
