/**
 * What a factory is given, checked when it is called. A secret read from an unset environment
 * variable, or the engine passed where the receiver belongs, fails at start-up with a sentence that
 * names the option and what to pass, instead of "Cannot read properties of undefined" at the first
 * request. The types say the same to TypeScript callers; these checks are for JavaScript, and for
 * `process.env.X!` when X was not set. They run once per factory call, never per request.
 */
import { z } from 'zod';
import type { ScalekitWebhookReceiver } from './http/scalekit-webhook.js';
import type { PortalLinkHandler } from './portal/link.js';
import type { ScimServer } from './scim/server.js';

/** One thing wrong with a factory's arguments. */
export interface OptionsIssue {
  /** Which argument: `options.secret`, `options.handlers.userCreate`, `receiver`. */
  readonly path: string;
  /** What is wrong and what to pass instead, read after the path: "is missing: pass …". */
  readonly message: string;
}

/**
 * A factory (`createEngine`, `createScalekitWebhookReceiver`, an adapter's route, …) was called
 * with arguments it cannot work with. Thrown at once, at start-up; the message has one line per
 * issue, the first naming the factory: `createScalekitWebhookReceiver: options.secret is missing: …`.
 */
export class OptionsError extends TypeError {
  override readonly name = 'OptionsError';
  readonly code = 'invalid_options';
  constructor(
    /** The function that refused its arguments, such as `createScalekitWebhookReceiver`. */
    readonly factory: string,
    readonly issues: readonly OptionsIssue[],
  ) {
    super(`${factory}: ${issues.map((issue) => `${issue.path} ${issue.message}`).join('\n  ')}`);
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `options` + `['handlers', 'userCreate']` → `options.handlers.userCreate`; numbers as `[1]`. */
function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const has = (value: object, name: string, type: 'function' | 'object'): boolean => {
  const member = (value as Record<string, unknown>)[name];
  return type === 'object' ? typeof member === 'object' && member !== null : typeof member === type;
};
const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** What the library's own objects look like, so a message can say "got a ProvisioningEngine" rather than "got an object". */
const KNOWN_OBJECTS: readonly [string, (value: object) => boolean][] = [
  ['a ProvisioningEngine (from createEngine())', (v) => has(v, 'process', 'function') && has(v, 'store', 'object')],
  [
    'a webhook receiver (from createScalekitWebhookReceiver())',
    (v) => has(v, 'receive', 'function') && has(v, 'reject', 'function'),
  ],
  ['a Reconciler (from createReconciler())', (v) => has(v, 'reconcile', 'function')],
  ['a portal-link handler (from createPortalLinkHandler())', (v) => has(v, 'respond', 'function')],
  ['a ScimAuthenticator (from scimTokenAuthenticator())', (v) => has(v, 'authenticate', 'function')],
  ['a SCIM server (from createScimServer())', (v) => has(v, 'handle', 'function')],
  [
    'a DirectorySource (from scalekitDirectorySource())',
    (v) => has(v, 'resolveDirectory', 'function') && has(v, 'listUsers', 'function'),
  ],
  ['a ScalekitClient', (v) => has(v, 'directory', 'object') && has(v, 'organization', 'object')],
  ['a ProvisioningStore', (v) => has(v, 'claimEvent', 'function') && has(v, 'transaction', 'function')],
  ['a pg Pool', (v) => has(v, 'connect', 'function') && has(v, 'query', 'function')],
  ['a Promise (await it first)', (v) => has(v, 'then', 'function')],
];

/**
 * A short description of a value for "got …": its kind, never its content (a string may be a
 * secret), except for short strings in `quoted` mode and numbers.
 */
export function describeValue(value: unknown, { quoted = false }: { quoted?: boolean } = {}): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    return quoted && value.length <= 60 ? JSON.stringify(value) : 'a string';
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') {
    const name = value.name ? ` ${value.name}` : '';
    // A class is a function too: passing `ScalekitClient` instead of `new ScalekitClient(…)`.
    return /^class\b/.test(Function.prototype.toString.call(value))
      ? `the class${name} (construct it with new)`
      : `a function${name}`;
  }
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : `an array of ${value.length}`;
  if (typeof value !== 'object') return typeof value;
  for (const [description, matches] of KNOWN_OBJECTS) if (matches(value)) return description;
  const prototype = Object.getPrototypeOf(value);
  const keys = Object.keys(value);
  const shown = keys.length === 0 ? '' : ` with keys ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}`;
  if (prototype !== null && prototype !== Object.prototype) {
    const name = (prototype as { constructor?: { name?: string } }).constructor?.name;
    if (name) return `a ${name}${shown}`;
  }
  return keys.length === 0 ? 'an empty object' : `an object${shown}`;
}

/** Edit distance, for "did you mean". Names here are short: the quadratic table costs nothing. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + cost));
    }
    previous = row;
  }
  return previous[b.length] as number;
}

/** The candidate `name` was probably meant to be, if one is close enough. */
function closestName(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = candidate.toLowerCase() === lower ? 0 : distance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** "userCreate is not a …: did you mean userCreated?", or the list of names when nothing is close. */
export function unknownName(name: string, kind: string, known: readonly string[]): string {
  const guess = closestName(name, known);
  return guess ? `is not ${kind}: did you mean ${guess}?` : `is not ${kind}; the known ones are ${known.join(', ')}.`;
}

/** The names of `methods` that `value` does not have as functions (own or inherited). */
export function missingMethods(value: object, methods: readonly string[]): string[] {
  return methods.filter((name) => typeof (value as Record<string, unknown>)[name] !== 'function');
}

/** Reports an issue at the checked value, or at a path below it. */
export type Report = (message: string, ...path: PropertyKey[]) => void;

/** A field checked by hand, for what zod cannot describe well (functions, objects with methods, iterables). */
export function checked(check: (value: unknown, report: Report) => void): z.ZodType {
  return z
    .unknown()
    .superRefine((value, ctx) => check(value, (message, ...path) => ctx.addIssue({ code: 'custom', message, path })));
}

/** zod's error option: "is missing: <hint>" for `undefined`, "must be <expected>, got <value>" otherwise. */
export function expecting(
  expected: string,
  missing = `pass ${expected}`,
): { error: (issue: { input?: unknown }) => string } {
  return {
    error: (issue) =>
      issue.input === undefined
        ? `is missing: ${missing}`
        : `must be ${expected}, got ${describeValue(issue.input, { quoted: true })}`,
  };
}

/** A whole number of at least `min` (`unit` says of what: "bytes", "milliseconds"). */
export function wholeNumber(min: number, unit?: string): z.ZodNumber {
  const error = expecting(`a whole number${unit ? ` of ${unit}` : ''}, at least ${min}`);
  return z.number(error).int(error).min(min, error);
}

/** A finite number of at least `min`. */
export function numberAtLeast(min: number, unit?: string): z.ZodNumber {
  const error = expecting(`a number${unit ? ` of ${unit}` : ''}, at least ${min}`);
  return z.number(error).min(min, error);
}

export const optionalBoolean = z.boolean(expecting('true or false')).optional();

/** A function, required (`missing` says what to pass) or, without `missing`, optional. */
export function fn(missing?: string): z.ZodType {
  return checked((value, report) => {
    if (value === undefined) {
      if (missing !== undefined) report(`is missing: ${missing}`);
    } else if (typeof value !== 'function') {
      report(`must be a function, got ${describeValue(value, { quoted: true })}`);
    }
  });
}

/** Reports what `schema` finds wrong with `input[key]`, below `key`. */
function checkKey(input: object, key: string, schema: z.ZodType, report: Report): void {
  const result = schema.safeParse((input as Record<string, unknown>)[key]);
  if (!result.success) for (const issue of result.error.issues) report(issue.message, key, ...issue.path);
}

/** A factory's options object; `example` shows its required keys, as in `{ engine, secret }`. */
export function optionsObject(shape: Readonly<Record<string, z.ZodType>>, example: string): z.ZodType {
  return checked((input, report) => {
    if (input === undefined) report(`is missing: pass ${example}`);
    else if (!isObject(input) || Array.isArray(input))
      report(`must be an object ${example}, got ${describeValue(input)}`);
    // Key by key rather than `z.object`: zod skips the refinements of absent keys, the "is missing" ones.
    else for (const [key, schema] of Object.entries(shape)) checkKey(input, key, schema, report);
  });
}

/**
 * An optional object whose keys `shape` checks; an unknown key is refused with a "did you mean", since
 * a misspelt limit or guard would otherwise be ignored without a word.
 */
export function knownKeys(kind: string, shape: Readonly<Record<string, z.ZodType>>): z.ZodType {
  const known = Object.keys(shape);
  return checked((input, report) => {
    if (input === undefined) return;
    if (!isObject(input) || Array.isArray(input)) {
      report(`must be an object of ${kind}s (${known.join(', ')}), got ${describeValue(input)}`);
      return;
    }
    for (const key of Object.keys(input)) {
      const schema = Object.hasOwn(shape, key) ? shape[key] : undefined;
      if (schema === undefined) report(unknownName(key, `a ${kind}`, known), key);
      else checkKey(input, key, schema, report);
    }
  });
}

/** Checks `value` against `schema`; throws an `OptionsError` naming `factory` with every issue, paths from `root`. */
export function validateOptions(factory: string, schema: z.ZodType, value: unknown, root = 'options'): void {
  const result = schema.safeParse(value);
  if (result.success) return;
  throw new OptionsError(
    factory,
    result.error.issues.map((issue) => ({ path: formatPath(root, issue.path), message: issue.message })),
  );
}

/** Runs a hand check on one argument and throws an `OptionsError` naming `factory` with every issue it reports. */
export function checkArgument(
  factory: string,
  root: string,
  value: unknown,
  check: (value: unknown, report: Report) => void,
): void {
  const issues: OptionsIssue[] = [];
  check(value, (message, ...path) => issues.push({ path: formatPath(root, path), message }));
  if (issues.length > 0) throw new OptionsError(factory, issues);
}

/** Throws an `OptionsError` for one argument when `message` says something is wrong with it. */
function refuse(factory: string, path: string, message: string | undefined): void {
  if (message !== undefined) throw new OptionsError(factory, [{ path, message }]);
}

/** How to make the Scalekit client, for messages about a missing one. */
export const NEW_SCALEKIT_CLIENT =
  'new ScalekitClient(process.env.SCALEKIT_ENVIRONMENT_URL, process.env.SCALEKIT_CLIENT_ID, process.env.SCALEKIT_CLIENT_SECRET) from @scalekit-sdk/node';

/** The engine option of every factory built on it. */
export const engineOption = checked((value, report) => {
  if (value === undefined) report('is missing: pass the engine from createEngine({ store, handlers })');
  else if (!isObject(value) || !has(value, 'process', 'function') || !has(value, 'store', 'object'))
    report(`must be the engine createEngine({ store, handlers }) returns, got ${describeValue(value)}`);
});

/** `undefined` when `value` has `methods`; otherwise "is missing: …" or "must be …, got …". */
function shapeProblem(value: unknown, methods: readonly string[], expected: string): string | undefined {
  if (value === undefined) return `is missing: pass ${expected}`;
  if (isObject(value) && missingMethods(value, methods).length === 0) return undefined;
  return `must be ${expected}, got ${describeValue(value)}`;
}

/**
 * For adapters: throws an `OptionsError` unless `receiver` is what `createScalekitWebhookReceiver()`
 * returns. `factory` is the adapter's function, `path` the argument's name there.
 */
export function expectWebhookReceiver(
  receiver: unknown,
  factory: string,
  path = 'receiver',
): asserts receiver is ScalekitWebhookReceiver {
  const problem = shapeProblem(
    receiver,
    ['receive', 'handle', 'reject'],
    'the object createScalekitWebhookReceiver({ engine, secret }) returns',
  );
  refuse(factory, path, problem);
}

/** For adapters: throws an `OptionsError` unless `server` is what `createScimServer()` returns. */
export function expectScimServer(server: unknown, factory: string, path = 'server'): asserts server is ScimServer {
  const expected = 'the object createScimServer({ engine, authenticator }) returns';
  // A webhook receiver has `handle` too, and would answer SCIM requests with webhook errors.
  const receiver = isObject(server) && has(server, 'receive', 'function');
  refuse(
    factory,
    path,
    receiver
      ? `must be ${expected}, got ${describeValue(server)}`
      : shapeProblem(server, ['handle', 'respond'], expected),
  );
}

/** For adapters: throws an `OptionsError` unless `handler` is what `createPortalLinkHandler()` returns. */
export function expectPortalLinkHandler<R>(
  handler: unknown,
  factory: string,
  path = 'handler',
): asserts handler is PortalLinkHandler<R> {
  refuse(
    factory,
    path,
    shapeProblem(handler, ['respond'], 'the object createPortalLinkHandler({ client, authorize }) returns'),
  );
}

/** `logger`: pino's four methods, each a function. */
export const loggerOption = checked((logger, report) => {
  if (logger === undefined) return;
  if (typeof logger !== 'object' || logger === null) {
    report(
      `must be a logger with debug, info, warn and error methods (a pino logger fits), got ${describeValue(logger)}`,
    );
    return;
  }
  const missing = missingMethods(logger, ['debug', 'info', 'warn', 'error']);
  if (missing.length > 0)
    report(`has no ${missing.join(', ')} method: pass a pino logger or { debug, info, warn, error }`);
});

/** `telemetry`: `{ api }`, the app's `@opentelemetry/api` module. */
export const telemetryOption = checked((telemetry, report) => {
  if (telemetry === undefined) return;
  const api = (telemetry as { api?: unknown } | null)?.api;
  const looksLikeApi =
    typeof api === 'object' &&
    api !== null &&
    has(api, 'trace', 'object') &&
    has(api, 'context', 'object') &&
    has(api, 'metrics', 'object');
  if (!looksLikeApi) {
    report(
      "must be { api } with the @opentelemetry/api module (import * as api from '@opentelemetry/api'), " +
        `got ${describeValue(telemetry)}`,
    );
  }
});

/** `inbox`: an object with a `stats(organizationId?)` method. */
export const inboxOption = checked((inbox, report) => {
  if (inbox === undefined) return;
  if (typeof inbox !== 'object' || inbox === null || missingMethods(inbox, ['stats']).length > 0) {
    report(`must be an inbox with a stats(organizationId?) method, got ${describeValue(inbox)}`);
  }
});
