import { ExitCode } from './exit-codes.js';
import type { CommandName } from './help.js';

/**
 * A usage or configuration error: printed as `scim-sync: <message>`, exits 2. `help` names the
 * command whose `--help` the message points to.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = ExitCode.usage;
  constructor(
    message: string,
    readonly help?: CommandName,
  ) {
    super(message);
  }
}

/**
 * A failure the CLI has explained (the database is unreachable, say): printed as
 * `scim-sync: <message>` without a stack trace, exits 1.
 */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
  readonly exitCode = ExitCode.failed;
}
