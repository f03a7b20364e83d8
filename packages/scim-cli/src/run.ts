/** `runCli`: the whole CLI as a function of its arguments and io, so tests run it in-process. */
import packageJson from '../package.json' with { type: 'json' };
import { backfillCommand } from './commands/backfill.js';
import { fakeScalekitCommand } from './commands/fake-scalekit.js';
import { inboxCommand } from './commands/inbox.js';
import { migrateCommand } from './commands/migrate.js';
import { reconcileCommand } from './commands/reconcile.js';
import { rolesCommand } from './commands/roles.js';
import { scimTokenCommand } from './commands/scim-token.js';
import { secretCommand } from './commands/secret.js';
import { statusCommand } from './commands/status.js';
import { triggerCommand } from './commands/trigger.js';
import { CommandFailed, UsageError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { HELP, isCommand } from './help.js';
import { type CliIo, println } from './io.js';
import { processStopSignal } from './signals.js';

const COMMANDS = {
  reconcile: reconcileCommand,
  backfill: backfillCommand,
  migrate: migrateCommand,
  inbox: inboxCommand,
  status: statusCommand,
  'fake-scalekit': fakeScalekitCommand,
  trigger: triggerCommand,
  secret: secretCommand,
  'scim-token': scimTokenCommand,
  roles: rolesCommand,
} as const;

const wantsHelp = (argv: readonly string[]) => argv.some((arg) => arg === '--help' || arg === '-h');

/**
 * Runs `scim-sync` with `argv` (the arguments after the program name) and resolves with the exit
 * code; it never calls `process.exit`. Every part of `io` defaults to the process's own.
 *
 * ```ts
 * const code = await runCli(['reconcile', '--organization', 'org_123', '--json'], { env: { ...process.env } });
 * ```
 */
export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const stop = io.signal ? undefined : processStopSignal();
  const resolved: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    isTTY: io.isTTY ?? process.stderr.isTTY === true,
    cwd: io.cwd ?? process.cwd(),
    signal: io.signal ?? (stop as { signal: AbortSignal }).signal,
  };
  try {
    return await dispatch(argv, resolved);
  } catch (error) {
    if (error instanceof UsageError) {
      println(resolved.stderr, `scim-sync: ${error.message}`);
      if (error.help) println(resolved.stderr, `Run scim-sync ${error.help} --help for usage.`);
      return error.exitCode;
    }
    if (error instanceof CommandFailed) {
      println(resolved.stderr, `scim-sync: ${error.message}`);
      return error.exitCode;
    }
    println(resolved.stderr, `scim-sync: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return ExitCode.failed;
  } finally {
    stop?.dispose();
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    println(io.stderr, HELP.main);
    return ExitCode.usage;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = rest[0];
    println(io.stdout, topic !== undefined && isCommand(topic) ? HELP[topic] : HELP.main);
    return ExitCode.ok;
  }
  if (command === '--version' || command === '-v') {
    println(io.stdout, packageJson.version);
    return ExitCode.ok;
  }
  if (!isCommand(command)) {
    println(io.stderr, `scim-sync: unknown command "${command}".\n\n${HELP.main}`);
    return ExitCode.usage;
  }
  if (wantsHelp(rest)) {
    println(io.stdout, HELP[command]);
    return ExitCode.ok;
  }
  return COMMANDS[command](rest, io);
}
