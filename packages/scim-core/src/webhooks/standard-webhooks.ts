/**
 * Standard Webhooks (the scheme Scalekit signs with), on `node:crypto`.
 *
 * Written here rather than taken from the `standardwebhooks` package because that package hashes
 * in pure JavaScript (about a third slower per request on the hot path) and because Scalekit's
 * own `verifyWebhookPayload` rejects valid headers (a malformed first signature, capitalised
 * header names) and accepts invalid ones (`"1700000000abc"` timestamps). The interop tests hold
 * this file to both.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { checkArgument, describeValue, type Report } from '../options.js';

export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

/** Seconds either way that a signed timestamp may differ from the clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export type WebhookVerificationErrorCode =
  | 'invalid_secret'
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_signature';

/** Why a delivery failed verification. `code` is stable; `message` says what to check. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Request headers as a fetch `Headers` or a plain object (Node's `IncomingHttpHeaders`, a test literal). */
export type HeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** Reads one header whatever the case of its name. Repeated headers are joined with a space, as signatures are. */
export function readHeader(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let value = record[name];
  if (value === undefined) {
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === name) {
        value = record[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(' ');
}

const SECRET_PREFIX = 'whsec_';

/**
 * Decodes a signing secret into its HMAC key. Accepts `whsec_<base64>` as Scalekit's dashboard
 * shows it, or the bare base64 part.
 */
export function decodeWebhookSecret(secret: string): Buffer {
  if (typeof secret !== 'string') {
    throw new WebhookVerificationError('invalid_secret', `The webhook secret is missing: ${SECRET_HINT}.`);
  }
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (encoded.length === 0 || key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new WebhookVerificationError('invalid_secret', `The webhook secret ${SECRET_FORMAT}.`);
  }
  return key;
}

const SECRET_FORMAT =
  'must be "whsec_" followed by base64, as shown in the Scalekit dashboard (Webhooks → your endpoint → Signing secret)';
const SECRET_HINT =
  "pass your Scalekit endpoint's signing secret (whsec_…), usually process.env.SCALEKIT_WEBHOOK_SECRET; for local testing make one with `npx scim-sync secret`";

/** One secret's problem, never quoting it: it is a secret, and it lands in logs. */
function checkOneSecret(secret: string, report: Report, decode: boolean, ...path: number[]): void {
  if (secret.trim() === '') {
    report(`is empty: ${SECRET_HINT} (is SCALEKIT_WEBHOOK_SECRET set to an empty value?)`, ...path);
    return;
  }
  if (!decode) return;
  try {
    decodeWebhookSecret(secret);
  } catch {
    const padded = /^[\s"']|[\s"']$/.test(secret)
      ? ' (this one has quotes or spaces around it: copy it without them)'
      : '';
    report(`is not a Scalekit signing secret: it ${SECRET_FORMAT}${padded}`, ...path);
  }
}

/**
 * The problems of a `secret` option, reported one per secret: missing (an unset
 * `SCALEKIT_WEBHOOK_SECRET`), empty, not a string, or (unless `decode` is false) not `whsec_` + base64.
 */
export function checkWebhookSecret(secret: unknown, report: Report, decode = true): void {
  if (secret === undefined || secret === null) {
    report(`is missing: ${SECRET_HINT} (is SCALEKIT_WEBHOOK_SECRET set in this process's environment?)`);
  } else if (typeof secret === 'string') {
    checkOneSecret(secret, report, decode);
  } else if (Array.isArray(secret)) {
    if (secret.length === 0) report(`is an empty array: ${SECRET_HINT} (several only while rotating)`);
    secret.forEach((one: unknown, index) => {
      if (typeof one === 'string') checkOneSecret(one, report, decode, index);
      else report(`must be a string (whsec_…), got ${describeValue(one)}`, index);
    });
  } else {
    report(`must be a string (whsec_…), or an array of them while rotating, got ${describeValue(secret)}`);
  }
}

function toBytes(payload: string | Uint8Array): Uint8Array {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

function hmacDigest(key: Buffer, id: string, timestamp: string, payload: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(payload).digest();
}

export interface SignWebhookOptions {
  /** `whsec_…` signing secret. */
  secret: string;
  /** The `webhook-id`; Scalekit uses a message id, tests commonly use the event id. */
  id: string;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
  /** The exact bytes that will be sent as the body. */
  payload: string | Uint8Array;
}

/** The three headers of a signed delivery. */
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** Computes the Standard Webhooks headers for a payload. Used by the test signer and the CLI's `trigger`. */
export function signWebhook(options: SignWebhookOptions): WebhookHeaders {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const digest = hmacDigest(decodeWebhookSecret(options.secret), options.id, timestamp, toBytes(options.payload));
  return {
    [WEBHOOK_ID_HEADER]: options.id,
    [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
    [WEBHOOK_SIGNATURE_HEADER]: `v1,${digest.toString('base64')}`,
  };
}

export interface WebhookVerifierOptions {
  /** One `whsec_…` secret, or several while rotating (any one may match). */
  secret: string | readonly string[];
  /** Allowed clock difference either way, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/**
 * By hand, not zod, and without decoding: `verifyWebhook` builds a verifier per call, and the
 * decoding that follows refuses a malformed secret with a `WebhookVerificationError` as before.
 */
function checkVerifierOptions(options: unknown, report: Report): void {
  if (typeof options !== 'object' || options === null) {
    report(options === undefined ? 'is missing: pass { secret }' : `must be { secret }, got ${describeValue(options)}`);
    return;
  }
  const { secret, toleranceSeconds, now } = options as Record<string, unknown>;
  checkWebhookSecret(secret, (message, ...path) => report(message, 'secret', ...path), false);
  const tolerance = typeof toleranceSeconds === 'number' && toleranceSeconds >= 0 && Number.isFinite(toleranceSeconds);
  if (toleranceSeconds !== undefined && !tolerance) {
    const got = describeValue(toleranceSeconds, { quoted: true });
    report(`must be a number of seconds, at least 0, got ${got}`, 'toleranceSeconds');
  }
  if (now !== undefined && typeof now !== 'function') {
    report(`must be a function, got ${describeValue(now, { quoted: true })}`, 'now');
  }
}

export interface VerifiedWebhook {
  id: string;
  /** Seconds since the epoch, as signed. */
  timestamp: number;
}

export type WebhookVerifier = (headers: HeaderSource, payload: string | Uint8Array) => VerifiedWebhook;

/**
 * Builds a verifier with its keys decoded once. The returned function checks the exact raw bytes
 * and throws a `WebhookVerificationError` when they were not signed by one of the secrets. Throws an
 * `OptionsError` for a missing or empty secret, a `WebhookVerificationError` for a malformed one.
 */
export function createWebhookVerifier(options: WebhookVerifierOptions): WebhookVerifier {
  checkArgument('createWebhookVerifier', 'options', options, checkVerifierOptions);
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  const keys = secrets.map(decodeWebhookSecret);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now ?? Date.now;

  return (headers, payload) => {
    const id = readHeader(headers, WEBHOOK_ID_HEADER);
    const timestampHeader = readHeader(headers, WEBHOOK_TIMESTAMP_HEADER);
    const signatureHeader = readHeader(headers, WEBHOOK_SIGNATURE_HEADER);
    if (!id || !timestampHeader || !signatureHeader) {
      throw new WebhookVerificationError(
        'missing_headers',
        `Missing ${[
          !id && WEBHOOK_ID_HEADER,
          !timestampHeader && WEBHOOK_TIMESTAMP_HEADER,
          !signatureHeader && WEBHOOK_SIGNATURE_HEADER,
        ]
          .filter(Boolean)
          .join(', ')} header: is a proxy stripping them, or is this not a Scalekit delivery?`,
      );
    }
    if (!/^\d{1,15}$/.test(timestampHeader)) {
      throw new WebhookVerificationError(
        'invalid_timestamp',
        'The webhook-timestamp header must be whole seconds since the epoch.',
      );
    }
    const timestamp = Number(timestampHeader);
    const nowSeconds = Math.floor(now() / 1000);
    if (timestamp < nowSeconds - tolerance) {
      throw new WebhookVerificationError(
        'timestamp_too_old',
        `The webhook was signed ${nowSeconds - timestamp} s ago, more than the ${tolerance} s tolerance: a replay, or this server's clock is wrong.`,
      );
    }
    if (timestamp > nowSeconds + tolerance) {
      throw new WebhookVerificationError(
        'timestamp_too_new',
        `The webhook is signed ${timestamp - nowSeconds} s in the future, more than the ${tolerance} s tolerance: check this server's clock.`,
      );
    }
    const bytes = toBytes(payload);
    for (const key of keys) {
      const expected = hmacDigest(key, id, timestampHeader, bytes);
      for (const entry of signatureHeader.split(' ')) {
        const comma = entry.indexOf(',');
        if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
        const given = Buffer.from(entry.slice(comma + 1), 'base64');
        // A malformed entry (wrong length) is skipped, not fatal: another entry may still match.
        if (given.length === expected.length && timingSafeEqual(given, expected)) return { id, timestamp };
      }
    }
    throw new WebhookVerificationError(
      'invalid_signature',
      'No webhook-signature matched: check SCALEKIT_WEBHOOK_SECRET against the dashboard, and that the body reaches the verifier byte for byte (no JSON parser before it).',
    );
  };
}

/** One-shot verification; prefer `createWebhookVerifier` on a hot path, it decodes the secret once. */
export function verifyWebhook(
  options: WebhookVerifierOptions & { headers: HeaderSource; payload: string | Uint8Array },
): VerifiedWebhook {
  return createWebhookVerifier(options)(options.headers, options.payload);
}
