import { defineConfig } from 'vitest/config';

// 30 s, not vitest's 5 s: CI runs two packages' suites at once on two cores, and a property test over
// real HTTP can take several seconds there. A test that hangs still fails, just later.
export default defineConfig({ test: { include: ['test/**/*.test.ts'], testTimeout: 30_000 } });
