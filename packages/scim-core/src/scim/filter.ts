/**
 * SCIM filters (RFC 7644 §3.4.2.2): a parser into a typed tree, and a printer whose output parses
 * back to the same tree. Hand-written (a tokenizer and a recursive-descent parser): the grammar is
 * small, and the SCIM libraries on npm that parse it bring a whole server with them.
 *
 * Precedence: `not` (with its parentheses) binds tightest, then `and`, then `or`; `and` and `or`
 * associate to the left. Operators and the literals `true`, `false`, `null` are case-insensitive;
 * attribute names keep their spelling (matching is case-insensitive, per RFC 7643 §2.1).
 *
 * Beyond the RFC's grammar, two forms identity providers send (docs/scim-server.md): a value path
 * followed by a sub-attribute, `emails[type eq "work"].value eq "a@b.c"`, parsed as
 * `emails[type eq "work" and value eq "a@b.c"]`; and an unquoted value, `userName sw O`, which is a
 * string unless it is `true`, `false`, `null` or a number (a keyword is refused, never a value).
 */
import { SCHEMAS } from './discovery.js';
import { ScimError } from './errors.js';
import { DEFAULT_SCIM_LIMITS, type ScimLimits } from './limits.js';

/** `[schema URN ":"] attribute ["." subAttribute]`, e.g. `name.familyName` or `urn:…:User:employeeNumber`. */
export interface AttributePath {
  readonly schema?: string;
  readonly attribute: string;
  readonly subAttribute?: string;
}

export type CompareOperator = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type CompareValue = string | number | boolean | null;

export type Filter =
  | { readonly op: 'pr'; readonly path: AttributePath }
  | { readonly op: CompareOperator; readonly path: AttributePath; readonly value: CompareValue }
  | { readonly op: 'and' | 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly op: 'not'; readonly filter: Filter }
  /** `emails[type eq "work" and primary eq true]`: the inner filter applies to each value of `path`. */
  | { readonly op: 'valuePath'; readonly path: AttributePath; readonly filter: Filter };

const COMPARE_OPERATORS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const;
const COMPARE = new Set<string>(COMPARE_OPERATORS);

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: '(' | ')' | '[' | ']'; at: number };

// A word runs to the next space, bracket, parenthesis or quote: an attribute path, an operator, a
// keyword, or an unquoted value (`userName sw O`, as Microsoft's SCIM validator sends).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters end a word (and then fail as unexpected).
const WORD = /[^\u0000-\u0020()[\]"\u007f]+/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: a number is only a number when no word character follows it.
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?(?![^\u0000-\u0020()[\]"\u007f])/y;
/** Words that are never an unquoted value: `userName eq and` is a mistake, not a search for "and". */
const RESERVED = new Set(['and', 'or', 'not', 'pr', ...COMPARE_OPERATORS]);
// biome-ignore lint/suspicious/noControlCharactersInRegex: a JSON string may not hold raw control characters, so the pattern names them.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i += 1;
      continue;
    }
    if (c === '(' || c === ')' || c === '[' || c === ']') {
      tokens.push({ kind: c, at: i });
      i += 1;
      continue;
    }
    if (c === '"') {
      STRING.lastIndex = i;
      const m = STRING.exec(input);
      if (!m) throw invalid(`an unterminated or malformed string at position ${i}`);
      tokens.push({ kind: 'string', value: JSON.parse(m[0]) as string, at: i });
      i += m[0].length;
      continue;
    }
    NUMBER.lastIndex = i;
    const n = NUMBER.exec(input);
    if (n) {
      const value = Number(n[0]);
      if (!Number.isFinite(value)) throw invalid(`the number ${n[0]} is out of range`);
      tokens.push({ kind: 'number', value, at: i });
      i += n[0].length;
      continue;
    }
    WORD.lastIndex = i;
    const w = WORD.exec(input);
    if (!w) throw invalid(`unexpected "${c}" at position ${i}`);
    tokens.push({ kind: 'word', text: w[0], at: i });
    i += w[0].length;
  }
  return tokens;
}

function invalid(detail: string): ScimError {
  return new ScimError(400, 'invalidFilter', `The filter is not valid: ${detail}.`);
}

const ATTRIBUTE_NAME = /^[A-Za-z$][\w$-]*$/;

/** The schema URNs a path may start with when the caller names none: the core User and Group and the enterprise extension. */
export const DEFAULT_PATH_SCHEMAS: readonly string[] = [SCHEMAS.user, SCHEMAS.group, SCHEMAS.enterpriseUser];

/**
 * The declared URN `text` starts with (followed by `:`), in the URN's own spelling, and the rest;
 * the longest wins, so an extension URN that extends another's prefix is still found.
 */
export function splitSchemaUrn(text: string, schemas: readonly string[]): { schema: string; rest: string } | undefined {
  const lower = text.toLowerCase();
  let found: string | undefined;
  for (const urn of schemas) {
    if (lower.startsWith(`${urn.toLowerCase()}:`) && (found === undefined || urn.length > found.length)) found = urn;
  }
  return found === undefined ? undefined : { schema: found, rest: text.slice(found.length + 1) };
}

/**
 * Parses `[urn:…:]attr[.sub]`. A URN prefix must be one of `schemas` (the ones the server
 * declares): anything else with a colon is refused, so `__proto__:x` is never split into a
 * "schema" and an attribute.
 */
export function parseAttributePath(
  text: string,
  schemas: readonly string[] = DEFAULT_PATH_SCHEMAS,
  error: (detail: string) => ScimError = invalid,
): AttributePath {
  let schema: string | undefined;
  let rest = text;
  if (text.includes(':')) {
    const split = splitSchemaUrn(text, schemas);
    if (!split) throw error(`"${text}" is not an attribute path of a schema this server declares`);
    schema = split.schema;
    rest = split.rest;
  }
  const [attribute, subAttribute, extra] = rest.split('.');
  if (
    attribute === undefined ||
    !ATTRIBUTE_NAME.test(attribute) ||
    (subAttribute !== undefined && !ATTRIBUTE_NAME.test(subAttribute)) ||
    extra !== undefined
  ) {
    throw error(`"${text}" is not an attribute path`);
  }
  return {
    ...(schema !== undefined && { schema }),
    attribute,
    ...(subAttribute !== undefined && { subAttribute }),
  };
}

/** How `parseFilter` bounds its work, and the URNs a path may start with. */
export interface FilterOptions
  extends Partial<Pick<ScimLimits, 'maxFilterLength' | 'maxFilterTerms' | 'maxFilterDepth'>> {
  /** Default `DEFAULT_PATH_SCHEMAS`. */
  readonly schemas?: readonly string[];
}

class Parser {
  #i = 0;
  #depth = 0;
  #terms = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
    private readonly schemas: readonly string[],
    private readonly maxTerms: number,
    private readonly maxDepth: number,
  ) {}

  /** Entering `(`, `not (` or `[`: refused past the depth limit, before recursing further. */
  #nest(token: Token): void {
    this.#depth += 1;
    if (this.#depth > this.maxDepth) {
      throw new ScimError(
        400,
        'invalidFilter',
        `The filter nests deeper than ${this.maxDepth} levels (at position ${token.at}).`,
      );
    }
  }

  /** One more comparison: refused past the term limit. */
  #term(token: Token): void {
    this.#terms += 1;
    if (this.#terms > this.maxTerms) {
      throw new ScimError(
        400,
        'invalidFilter',
        `The filter has more than ${this.maxTerms} comparisons (at position ${token.at}).`,
      );
    }
  }

  #peek(): Token | undefined {
    return this.tokens[this.#i];
  }

  #isWord(token: Token | undefined, word: string): boolean {
    return token?.kind === 'word' && token.text.toLowerCase() === word;
  }

  #expect(kind: Token['kind'], what: string): Token {
    const token = this.tokens[this.#i];
    if (token?.kind !== kind) throw invalid(`expected ${what} ${this.#where(token)}`);
    this.#i += 1;
    return token;
  }

  #where(token: Token | undefined): string {
    return token === undefined ? 'at the end' : `at position ${token.at}`;
  }

  parse(): Filter {
    if (this.tokens.length === 0) throw invalid('it is empty');
    const filter = this.#or(false);
    const rest = this.#peek();
    if (rest) throw invalid(`unexpected ${describe(rest)} ${this.#where(rest)}`);
    return filter;
  }

  #or(inValuePath: boolean): Filter {
    let left = this.#and(inValuePath);
    while (this.#isWord(this.#peek(), 'or')) {
      this.#i += 1;
      left = { op: 'or', left, right: this.#and(inValuePath) };
    }
    return left;
  }

  #and(inValuePath: boolean): Filter {
    let left = this.#not(inValuePath);
    while (this.#isWord(this.#peek(), 'and')) {
      this.#i += 1;
      left = { op: 'and', left, right: this.#not(inValuePath) };
    }
    return left;
  }

  #not(inValuePath: boolean): Filter {
    const token = this.#peek();
    if (this.#isWord(token, 'not') && this.tokens[this.#i + 1]?.kind === '(') {
      this.#nest(token as Token);
      this.#i += 2;
      const filter = this.#or(inValuePath);
      this.#expect(')', '")" to close "not ("');
      this.#depth -= 1;
      return { op: 'not', filter };
    }
    return this.#atom(inValuePath);
  }

  #atom(inValuePath: boolean): Filter {
    const token = this.#peek();
    if (token?.kind === '(') {
      this.#nest(token);
      this.#i += 1;
      const filter = this.#or(inValuePath);
      this.#expect(')', '")"');
      this.#depth -= 1;
      return filter;
    }
    if (token?.kind !== 'word') throw invalid(`expected an attribute ${this.#where(token)}`);
    if (token.text.toLowerCase() === 'not')
      throw invalid(`"not" takes parentheses, "not (…)", at position ${token.at}`);
    this.#i += 1;
    const path = parseAttributePath(token.text, this.schemas);
    const next = this.#peek();
    if (next?.kind === '[') {
      if (inValuePath) throw invalid(`a value filter cannot nest another, at position ${next.at}`);
      if (path.subAttribute !== undefined) throw invalid(`"${token.text}[" filters a sub-attribute`);
      this.#nest(next);
      this.#i += 1;
      const filter = this.#or(true);
      this.#expect(']', '"]"');
      this.#depth -= 1;
      const after = this.#peek();
      if (after?.kind === 'word' && after.text.startsWith('.')) {
        // `emails[type eq "work"].value eq "a@b.c"` (Entra): some email of type work has that value,
        // the same as `emails[type eq "work" and value eq "a@b.c"]`, and parsed as that.
        this.#i += 1;
        const sub = after.text.slice(1);
        if (!ATTRIBUTE_NAME.test(sub)) throw invalid(`"${after.text}" after "]" is not a sub-attribute`);
        const comparison = this.#comparison({ attribute: sub }, after);
        return { op: 'valuePath', path, filter: { op: 'and', left: filter, right: comparison } };
      }
      return { op: 'valuePath', path, filter };
    }
    return this.#comparison(path, token);
  }

  /** `<path> pr` or `<path> <operator> <value>`, the path already read (from `token`). */
  #comparison(path: AttributePath, token: Token & { kind: 'word' }): Filter {
    const next = this.#peek();
    if (next?.kind !== 'word') throw invalid(`expected an operator after "${token.text}" ${this.#where(next)}`);
    this.#term(token);
    const op = next.text.toLowerCase();
    this.#i += 1;
    if (op === 'pr') return { op: 'pr', path };
    if (!COMPARE.has(op)) throw invalid(`"${next.text}" is not an operator`);
    return { op: op as CompareOperator, path, value: this.#value() };
  }

  #value(): CompareValue {
    const token = this.#peek();
    this.#i += 1;
    if (token?.kind === 'string' || token?.kind === 'number') return token.value;
    if (token?.kind === 'word') {
      const word = token.text.toLowerCase();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
      if (RESERVED.has(word)) throw invalid(`"${token.text}" is not a value (quote it) at position ${token.at}`);
      // Unquoted: not a keyword, not a number (the tokenizer read those), so a string.
      return token.text;
    }
    throw invalid(`expected a value ${this.#where(token)} in "${this.source}"`);
  }
}

function describe(token: Token): string {
  if (token.kind === 'word') return `"${token.text}"`;
  if (token.kind === 'string') return `the string ${JSON.stringify(token.value)}`;
  if (token.kind === 'number') return `the number ${token.value}`;
  return `"${token.kind}"`;
}

/**
 * Parses a SCIM filter; throws a `ScimError` (400, `invalidFilter`) saying what is wrong and where.
 * Its cost is bounded by `options` (default `DEFAULT_SCIM_LIMITS`): the length is checked before
 * tokenizing, and the term count and nesting while parsing, so the parser never recurses deeper
 * than `maxFilterDepth`.
 */
export function parseFilter(input: string, options: FilterOptions = {}): Filter {
  const maxLength = options.maxFilterLength ?? DEFAULT_SCIM_LIMITS.maxFilterLength;
  if (input.length > maxLength) {
    throw new ScimError(400, 'invalidFilter', `The filter is longer than ${maxLength} characters.`);
  }
  return new Parser(
    tokenize(input),
    input,
    options.schemas ?? DEFAULT_PATH_SCHEMAS,
    options.maxFilterTerms ?? DEFAULT_SCIM_LIMITS.maxFilterTerms,
    options.maxFilterDepth ?? DEFAULT_SCIM_LIMITS.maxFilterDepth,
  ).parse();
}

export function formatAttributePath(path: AttributePath): string {
  const base = path.schema === undefined ? path.attribute : `${path.schema}:${path.attribute}`;
  return path.subAttribute === undefined ? base : `${base}.${path.subAttribute}`;
}

function formatValue(value: CompareValue): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Prints a filter in canonical form; `parseFilter(formatFilter(f))` equals `f`. */
export function formatFilter(filter: Filter): string {
  switch (filter.op) {
    case 'pr':
      return `${formatAttributePath(filter.path)} pr`;
    case 'and':
    case 'or': {
      // Left-associative: a right operand of the same operator, or an `or` under `and`, needs parentheses.
      const wrap = (child: Filter, right: boolean) =>
        (child.op === 'or' && (filter.op === 'and' || right)) || (right && child.op === filter.op)
          ? `(${formatFilter(child)})`
          : formatFilter(child);
      return `${wrap(filter.left, false)} ${filter.op} ${wrap(filter.right, true)}`;
    }
    case 'not':
      return `not (${formatFilter(filter.filter)})`;
    case 'valuePath':
      return `${formatAttributePath(filter.path)}[${formatFilter(filter.filter)}]`;
    default:
      return `${formatAttributePath(filter.path)} ${filter.op} ${formatValue(filter.value)}`;
  }
}
