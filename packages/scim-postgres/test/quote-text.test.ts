/**
 * `quoteText` writes every value the store sends inside its multi-statement round trips (a user's
 * JSON, ids, names from the identity provider): it must be pg's `escapeLiteral` exactly, and the
 * server must read back the very text it quoted, for any text a row can hold (no NUL, no lone
 * surrogate: the webhook route and the SCIM server refuse both before they reach a store).
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quoteText } from '../src/prepared.js';
import { DATABASE_URL } from './database.js';

/** Text heavy in what needs quoting: quotes, backslashes, `E'` look-alikes, JSON escapes, any code point. */
const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom("'", '\\', "''", "\\'", "E'", '"', '\\"', '\\u0027', '$$', ';', '\n', ' '),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(''))
  .filter((text) => !text.includes('\u0000') && (text as string & { isWellFormed(): boolean }).isWellFormed());

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

it("writes exactly pg's escapeLiteral", () => {
  fc.assert(
    fc.property(hostileText, (text) => {
      expect(quoteText(text)).toBe(client.escapeLiteral(text));
    }),
    { numRuns: 2_000 },
  );
});

it('is read back by PostgreSQL as the text it quoted, in a multi-statement string', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(hostileText, { minLength: 1, maxLength: 5 }), async (texts) => {
      // As the store sends them: several statements in one simple-query round trip.
      const results = (await client.query(texts.map((text) => `select ${quoteText(text)}::text as v`).join(';\n'))) as
        | pg.QueryResult<{ v: string }>
        | pg.QueryResult<{ v: string }>[];
      const rows = (Array.isArray(results) ? results : [results]).map((result) => result.rows[0]?.v);
      expect(rows).toEqual(texts);
    }),
    { numRuns: 300 },
  );
});
