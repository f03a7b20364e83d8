/**
 * One pass over a parsed JSON body before anything reads it: nesting depth, the keys that could
 * reach an object's prototype, and strings no database can store. Shared by the SCIM server and the
 * webhook route, so hostile bytes are a 4xx at the door instead of a 500 (or worse) further in.
 *
 * - Depth: `JSON.parse` itself is iterative and takes any depth, but everything after it (zod,
 *   `structuredClone`, a store's serializer) recurses; 2,000 levels overflow the stack there.
 * - Keys `__proto__`, `constructor`, `prototype`: `JSON.parse` makes them own properties, harmless
 *   until some later code copies them with assignment or `Object.assign` and sets a prototype.
 * - NUL (U+0000) and lone surrogates: PostgreSQL's `text` and `jsonb` refuse both (a 500 on every
 *   delivery of a signed webhook means Scalekit redelivers a poison event until it gives up).
 *
 * Neither pass can overflow on the input it refuses: the first recurses no deeper than the depth
 * limit, the second keeps an explicit stack.
 */
import { FORBIDDEN_KEYS } from '../scim/limits.js';

/** ES2024's `String.prototype.isWellFormed` (native in Node 20; the project's `lib` is ES2023). */
const isWellFormed = (text: string) => (text as string & { isWellFormed(): boolean }).isWellFormed();

/** Why a string cannot be stored, or `undefined`. */
export function badString(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (!isWellFormed(text)) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

const describe = (path: readonly (string | number)[]) =>
  path.length === 0 ? 'the body' : `"${path.map(String).join('.').slice(0, 120)}"`;

/**
 * What is wrong with `value` (a parsed JSON body), or `undefined` when nothing is. A body with
 * nothing wrong (nearly every one) is decided by a pass that allocates nothing; the pass that names
 * the place of a problem runs only after that one found something.
 */
export function inspectJson(value: unknown, maxDepth: number): string | undefined {
  return plainJson(value, 0, maxDepth) ? undefined : locateProblem(value, maxDepth);
}

/**
 * `inspectJson` for a value `JSON.parse` made of `text`, cheaper for nearly every body. In JSON text a
 * string (key or value) holds a NUL or a lone surrogate only through a `\u` escape, or a lone
 * surrogate written raw, which `isWellFormed` finds (raw U+0000 is not JSON). A text with neither
 * has no bad string anywhere, so only the keys and the depth are walked (`plainJson` without its
 * string checks): one native search of the text instead of two per string. Any other text is walked
 * in full.
 */
export function inspectJsonText(text: string, value: unknown, maxDepth: number): string | undefined {
  return storableText(text) && plainJson(value, 0, maxDepth, false) ? undefined : inspectJson(value, maxDepth);
}

/** True only when no string `JSON.parse(text)` makes, key or value, is refused by `badString`. */
export function storableText(text: string): boolean {
  return !text.includes('\\u') && isWellFormed(text);
}

/**
 * True only when `locateProblem` would find nothing, decided without allocating (it builds a path
 * per node for its message, which made it the largest allocation of a webhook delivery). `false`
 * defers to it. The recursion stops at `maxDepth`, so hostile nesting cannot overflow the stack.
 * With `strings` false, strings are taken as storable (`storableText` said so) and only keys and
 * depth are looked at.
 */
export function plainJson(value: unknown, depth: number, maxDepth: number, strings = true): boolean {
  if (typeof value === 'string') return !strings || badString(value) === undefined;
  if (typeof value !== 'object' || value === null) return true;
  if (depth >= maxDepth) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth + 1, maxDepth, strings)) return false;
    return true;
  }
  for (const key in value) {
    if (FORBIDDEN_KEYS.has(key) || (strings && badString(key) !== undefined)) return false;
    if (!plainJson((value as Record<string, unknown>)[key], depth + 1, maxDepth, strings)) return false;
  }
  return true;
}

/** What `inspectJson` answers, found by walking with each node's path kept for the message. */
export function locateProblem(value: unknown, maxDepth: number): string | undefined {
  const stack: { value: unknown; depth: number; path: (string | number)[] }[] = [{ value, depth: 0, path: [] }];
  while (stack.length > 0) {
    const item = stack.pop() as (typeof stack)[number];
    const current = item.value;
    if (typeof current === 'string') {
      const problem = badString(current);
      if (problem) return `${describe(item.path)} ${problem}`;
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (item.depth >= maxDepth) return `${describe(item.path)} nests deeper than ${maxDepth} levels`;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        stack.push({
          value: current[i],
          depth: item.depth + 1,
          path: item.path.length < 8 ? [...item.path, i] : item.path,
        });
      }
      continue;
    }
    for (const key of Object.keys(current)) {
      if (FORBIDDEN_KEYS.has(key)) return `${describe(item.path)} has the key "${key}", which is never accepted`;
      const problem = badString(key);
      if (problem) return `a key in ${describe(item.path)} ${problem}`;
      stack.push({
        value: (current as Record<string, unknown>)[key],
        depth: item.depth + 1,
        path: item.path.length < 8 ? [...item.path, key] : item.path,
      });
    }
  }
  return undefined;
}
