/**
 * Fingerprints: a short digest of a user's or group's normalized state, so a reconciliation can
 * tell "unchanged" from one string comparison instead of loading and comparing the stored row.
 *
 * The digest is of a canonical JSON form (keys sorted at every depth), so the same state gives the
 * same fingerprint whichever path delivered it and however a database reorders JSON keys.
 */
import { digestBase64url } from '../hash.js';
import type { DirectoryGroup, DirectoryUser } from '../model.js';

/**
 * The digests of the last deeply frozen values fingerprinted (nothing in them can change, so a
 * digest holds for each one's whole life): at least the last `RECENT`, at most twice that. A
 * Scalekit listing hands out its users frozen (`scalekitDirectorySource`) and the memory store
 * keeps such a user as its row without a copy: when it writes a page the reconciler has just
 * fingerprinted, it finds each row's digest here instead of computing it again. Bounded, and
 * strong: a WeakMap entry for every listed user cost each later resync more than the one digest
 * per row it saves.
 *
 * Two generations, the newer filled until it holds `RECENT` and then made the older: evicting the
 * oldest entry of one `Map` instead (`keys().next()`, then `delete`) walked over every entry
 * deleted before it, which V8 leaves in place until the table is rebuilt, and cost more than
 * the rest of a fingerprint's bookkeeping.
 */
let recentDigests = new Map<object, string>();
let olderDigests = new Map<object, string>();
const RECENT = 512;

/** Set by `canonical` when the value it just serialized held anything not frozen (so not remembered). */
let sawMutable = false;

/**
 * JSON with the keys of every object sorted (by UTF-16 code units, `Array.prototype.sort`'s
 * default order), byte for byte what safe-stable-stringify's `deterministic` mode writes for JSON
 * values, on which fingerprints stored by earlier versions were computed (a property test holds
 * the two equal). Written by hand to tell, in the same pass, whether the value is deeply frozen
 * (see `recentDigests`), which no serializer offers. `undefined`, functions and symbols are left out
 * of objects and are `null` in arrays; numbers that are not finite are `null`; `toJSON` is
 * honoured. A cycle throws (the stack runs out).
 */
export function canonicalJson(value: unknown): string | undefined {
  sawMutable = false;
  return canonical(value);
}

function canonical(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return value === null ? 'null' : canonicalObject(value);
    default:
      return undefined;
  }
}

/** What JSON.stringify escapes: a string without any of these is written between quotes as it is. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what JSON escapes.
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
const quoted = (text: string) => (NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`);

/**
 * `"key":` per key, remembered for the first few thousand keys met: a directory's objects share a
 * small vocabulary of keys, and hostile keys past the cap are quoted each time instead of growing it.
 */
function memberName(key: string): string {
  let name = memberNames.get(key);
  if (name === undefined) {
    name = `${quoted(key)}:`;
    if (memberNames.size < MAX_MEMBER_NAMES) memberNames.set(key, name);
  }
  return name;
}
const memberNames = new Map<string, string>();
const MAX_MEMBER_NAMES = 4_096;

function canonicalObject(value: object): string | undefined {
  if (!Object.isFrozen(value)) sawMutable = true;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    sawMutable = true; // what toJSON answers may change: never remembered
    return canonical(toJSON.call(value, ''));
  }
  let text: string;
  if (Array.isArray(value)) {
    text = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ',';
      text += canonical(value[i]) ?? 'null';
    }
    text += ']';
  } else {
    const record = value as Record<string, unknown>;
    const keys = sortedKeys(record);
    text = '{';
    for (const key of keys) {
      const item = canonical(record[key]);
      if (item === undefined) continue;
      if (text.length > 1) text += ',';
      text += memberName(key);
      text += item;
    }
    text += '}';
  }
  return text;
}

/**
 * The keys in `Array.prototype.sort`'s default order (UTF-16 code units): by insertion for the few
 * keys most objects have, which is cheaper than the general sort there.
 */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

function digest(value: object): string {
  // Only a frozen object can be remembered: a mutable one is not looked up.
  const frozen = Object.isFrozen(value);
  if (frozen) {
    const known = recentDigests.get(value) ?? olderDigests.get(value);
    if (known !== undefined) return known;
  }
  const fingerprint = digestBase64url('sha1', canonicalJson(value) ?? '');
  if (frozen && !sawMutable) {
    if (recentDigests.size >= RECENT) {
      olderDigests = recentDigests;
      recentDigests = new Map();
    }
    recentDigests.set(value, fingerprint);
  }
  return fingerprint;
}

/**
 * The digest of `value` if it is one of the last deeply frozen values fingerprinted, without
 * computing one: for the memory store, which keeps a frozen row as it is given and takes the
 * digest a reconciliation has just computed of it, but should not compute one for every webhook.
 */
export function rememberedFingerprint(value: object): string | undefined {
  return recentDigests.get(value) ?? olderDigests.get(value);
}

/** The fingerprint of a user; stores return it from `getUserFingerprints`. */
export function fingerprintUser(user: DirectoryUser): string {
  return digest(user);
}

/** The fingerprint of a group; stores return it from `getGroupFingerprints`. */
export function fingerprintGroup(group: DirectoryGroup): string {
  return digest(group);
}
