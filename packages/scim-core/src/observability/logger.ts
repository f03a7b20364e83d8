/**
 * The `logger` option: what the library says about itself goes here, never straight to the console.
 * The shape is pino's (`logger.warn({ err, eventId }, 'message')`), so a pino, bunyan or
 * `console`-backed object fits as is.
 */

/** One log method: a structured object first, then a message, as pino takes them. */
export type LogMethod = (obj: Record<string, unknown>, msg?: string) => void;

/** What the library logs through: a pino logger fits, and so does any object with these four methods. */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const ignore: LogMethod = () => {};

/** Says nothing. */
export const silentLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });

/** `{ err }` is pino's name for an error; shown after the message with its stack, as `console.error` would. */
function consoleLine(write: (...args: unknown[]) => void): LogMethod {
  return (obj, msg) => {
    const { err, ...rest } = obj;
    const fields = Object.keys(rest).length > 0 ? rest : '';
    write(`[scim-sync] ${msg ?? ''}`, fields, err ?? '');
  };
}

/**
 * The default: warnings and errors to stderr, as the library printed them before the option existed
 * (a 5xx's cause must reach someone); debug and info say nothing. Libraries stay quiet otherwise.
 */
export const defaultLogger: Logger = Object.freeze({
  debug: ignore,
  info: ignore,
  warn: consoleLine((...args) => console.warn(...args)),
  error: consoleLine((...args) => console.error(...args)),
});
