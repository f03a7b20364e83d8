export type { ScimSyncConfig } from './config.js';
export { ExitCode } from './exit-codes.js';
export type { CliIo, CliOutput } from './io.js';
export { runCli } from './run.js';
