/** The tarball check of `check-package` (scripts/check-tarball.mjs) on this package: scripts/check-tarball-suite.ts. */
import { runCheckTarballSuite } from '../../../scripts/check-tarball-suite.js';

runCheckTarballSuite(new URL('..', import.meta.url));
