import { defineConfig } from 'vitest/config';

// Real processes and sockets: give a slow CI machine room, while the suite itself runs in seconds.
export default defineConfig({ test: { include: ['test/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 20_000 } });
