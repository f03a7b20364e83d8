/** Argument helpers around `node:util` `parseArgs`: its errors become usage errors (exit 2). */
import { UsageError } from './errors.js';
import type { CommandName } from './help.js';

/** Runs `parse` (a `parseArgs` call); an unknown option or a missing value becomes a `UsageError` for `command`. */
export function parseOrExplain<T>(command: CommandName, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message, command);
    }
    throw error;
  }
}

/** A whole number from `min` up, or `fallback` when the flag was not given. */
export function integerFlag(
  command: CommandName,
  flag: string,
  value: string | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag} must be a whole number of at least ${min}, got "${value}".`, command);
  }
  return n;
}

/** `--schema <name>`: a PostgreSQL identifier (quoted by the store, so any characters; at most 63 bytes). */
export function schemaFlag(command: CommandName, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === '' || Buffer.byteLength(value) > 63) {
    throw new UsageError(`--schema must be a schema name of 1 to 63 bytes, got "${value}".`, command);
  }
  return value;
}
