import { fileURLToPath } from 'node:url';

// The repository root: this app sits inside a monorepo with its lockfile at the top.
const root = fileURLToPath(new URL('../../..', import.meta.url));

export default {
  outputFileTracingRoot: root,
  turbopack: { root },
};
