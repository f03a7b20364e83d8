#!/usr/bin/env node
// The `scim-sync` command. A committed file, so that package managers can link the bin when they
// install a workspace before it is built; the CLI itself is the build's dist/cli.js.
import '../dist/cli.js';
