import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.js';

// The scheduler is an entry of its own (`@org/scim-postgres/scheduler`): it needs pg-boss, an
// optional peer, whose types the main entry must not import.
export default defineConfig({ ...packageBuild, entry: ['src/index.ts', 'src/scheduler.ts'] });
