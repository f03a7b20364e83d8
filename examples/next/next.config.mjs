import { fileURLToPath } from 'node:url';

// Only needed inside this monorepo (several lockfiles up the tree); drop it in your own project.
const root = fileURLToPath(new URL('../..', import.meta.url));

export default {
  outputFileTracingRoot: root,
  turbopack: { root },
};
