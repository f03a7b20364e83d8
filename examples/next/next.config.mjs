import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Inside a pnpm workspace (this repository, or yours if you copied the folder to `apps/<name>`), the
// packages are linked from the workspace root, outside this folder: Next must trace and watch files
// from there. A standalone copy has no workspace two levels up and keeps Next's defaults.
const root = existsSync(new URL('../../pnpm-workspace.yaml', import.meta.url))
  ? fileURLToPath(new URL('../..', import.meta.url))
  : undefined;

/** @type {import('next').NextConfig} */
export default root ? { outputFileTracingRoot: root, turbopack: { root } } : {};
