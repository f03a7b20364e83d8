/**
 * A verified webhook body to a parsed Scalekit event, or the 400 it earns: shared by the webhook
 * route and the inbox worker, which parses a stored body again exactly as the wire one was.
 */
import { isUtf8 } from 'node:buffer';
import { parseScalekitEvent, type ScalekitEvent } from '../scalekit/schemas.js';
import { inspectJsonText } from './json-guard.js';

/**
 * Deepest nesting a webhook body may have. A Scalekit event is 4 levels deep plus whatever the
 * identity provider put in `raw_attributes`; everything after `JSON.parse` recurses over it.
 */
export const MAX_JSON_DEPTH = 32;

export type ParsedBody =
  | { readonly ok: true; readonly event: ScalekitEvent }
  /** `json` is the parsed body when it was JSON (for the inbox to name a parked event by its id). */
  | {
      readonly ok: false;
      readonly code: 'invalid_json' | 'invalid_event';
      readonly message: string;
      readonly json?: unknown;
    };

/** Strict UTF-8: invalid bytes are an error, not U+FFFD. `isUtf8` is native and far cheaper than a fatal `TextDecoder`. */
export function decodeUtf8(bytes: Uint8Array): string {
  if (!isUtf8(bytes)) throw new SyntaxError('the body is not valid UTF-8');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, 3).map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  return shown.join('; ') + (issues.length > 3 ? `; and ${issues.length - 3} more` : '');
}

/** Parses a verified body (bytes or text): UTF-8 JSON, nothing unstorable or prototype-shaped in it, Scalekit's schema. */
export function parseWebhookBody(body: Uint8Array | string): ParsedBody {
  let text: string;
  let json: unknown;
  try {
    text = typeof body === 'string' ? body : decodeUtf8(body);
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, code: 'invalid_json', message: `The body is not UTF-8 JSON: ${(error as Error).message}` };
  }
  // Signed is not the same as storable: a NUL, a lone surrogate or a prototype key from the
  // identity provider would fail in the store (a 500, redelivered until Scalekit gives up) or worse.
  const problem = inspectJsonText(text, json, MAX_JSON_DEPTH);
  if (problem) return { ok: false, code: 'invalid_event', message: `The event is not accepted: ${problem}.`, json };
  const parsed = parseScalekitEvent(json);
  if (!parsed.success) {
    const message = `The event does not match Scalekit's schema: ${describeIssues(parsed.issues)}`;
    return { ok: false, code: 'invalid_event', message, json };
  }
  return { ok: true, event: parsed.value };
}
