/**
 * A batch of user snapshots (`engine.processBatch`, as reconciliation applies a page) sends its ids,
 * groups and bodies to PostgreSQL as arrays: whatever text they hold must arrive exactly, quotes,
 * backslashes, braces, commas, blanks and the word NULL included, and come back the same.
 */
import { randomUUID } from 'node:crypto';
import { createEngine, type DirectoryEvent, formatNanos } from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema } from './database.js';
import { userIn } from './fixtures/large.js';

const schema = freshSchema('batch_text');
let pool: pg.Pool;
let store: PostgresStore;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  store = postgresStore({ pool, schema });
  await store.migrate();
});
afterAll(async () => {
  await pool.query(`drop schema if exists ${schema} cascade`);
  await pool.end();
});

const ODD = [
  'NULL',
  'null',
  '',
  ' ',
  'a,b',
  '{x}',
  '"q"',
  "o'brien",
  'back\\slash',
  'tab\tnew\nline',
  'é ✓ 𝄞',
  '\\"{,}\'',
];

describe('a batch on PostgreSQL', () => {
  it('writes ids, groups and bodies holding quotes, backslashes, braces, commas, blanks and NULL exactly', async () => {
    const org = `org_${randomUUID()}`;
    const groups = ODD.map((name, k) => ({ id: `dirgroup_${k}_${name}`, name }));
    const events: DirectoryEvent[] = ODD.map((text, i) => ({
      id: `evt_odd_${i}_${text}`,
      organizationId: org,
      occurredAt: formatNanos(1_750_000_000_000_000_000n + BigInt(i)),
      source: 'reconciliation',
      sourceType: 'test',
      type: 'user.upserted',
      user: {
        ...userIn(org, `diruser_${i}_${text}`, [groups[i] as (typeof groups)[number]]),
        externalId: text === '' ? 'empty' : text,
        email: `u${i}@example.com`,
        attributes: { title: text },
      },
    }));
    const created: string[] = [];
    const engine = createEngine({ store, handlers: { userCreated: ({ user }) => void created.push(user.id) } });
    const results = await engine.processBatch?.(events);
    expect(results?.map((r) => r.status)).toEqual(events.map(() => 'applied'));
    expect(created).toEqual(ODD.map((text, i) => `diruser_${i}_${text}`));
    for (const [i, text] of ODD.entries()) {
      expect(await store.getUser(org, `diruser_${i}_${text}`)).toMatchObject({
        externalId: text === '' ? 'empty' : text,
        attributes: { title: text },
        groups: [{ id: `dirgroup_${i}_${text}`, name: text }],
      });
      expect(await store.listGroupMemberIds(org, `dirgroup_${i}_${text}`)).toEqual([`diruser_${i}_${text}`]);
    }
    const replay = await engine.processBatch?.(events);
    expect(replay?.map((r) => r.status)).toEqual(events.map(() => 'duplicate'));
  });
});
