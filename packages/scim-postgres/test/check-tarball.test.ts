/** The tarball check of `check-package` (scripts/check-tarball.mjs) on this package: scripts/check-tarball-suite.ts. */
import { runCheckTarballSuite } from '../../../scripts/check-tarball-suite.js';

// Two entries, so a `files` list can miss one: the scheduler's is the case shown.

runCheckTarballSuite(new URL('..', import.meta.url), { entry: 'scheduler' });
