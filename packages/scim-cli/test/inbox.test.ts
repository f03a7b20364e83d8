/**
 * `scim-sync inbox` against the real PostgreSQL and MariaDB (127.0.0.1, database `test`) through the
 * real @org/scim-postgres and @org/scim-mysql: an inbox filled through the packages' own API, then
 * read and replayed through the CLI. Each run in a schema or table prefix of its own, dropped after.
 */
import { randomBytes } from 'node:crypto';
import type { InboxStore } from '@org/scim-core';
import { mysqlInbox, mysqlStore } from '@org/scim-mysql';
import { postgresInbox, postgresStore } from '@org/scim-postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { inboxEntry, run } from './helpers.js';

const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;

const pgStore = postgresStore({ connectionString: POSTGRES_URL, schema: `scim_cli_inbox_${tag}` });
const myStore = mysqlStore({ connectionString: MYSQL_URL, tablePrefix: `t_cli_inbox_${tag}_` });

afterAll(async () => {
  await pgStore.pool.query(`drop schema if exists "${pgStore.schema}" cascade`);
  await pgStore.close();
  const [rows] = (await myStore.pool.query(
    'select table_name as name from information_schema.tables where table_schema = database()',
  )) as unknown as [{ name: string }[]];
  for (const { name } of rows.filter((r) => r.name.startsWith(myStore.tablePrefix))) {
    await myStore.pool.query(`drop table if exists \`${name}\``);
  }
  await myStore.close();
});

const cases = [
  {
    name: 'PostgreSQL',
    inbox: (): InboxStore => postgresInbox({ store: pgStore }),
    env: { DATABASE_URL: POSTGRES_URL },
    where: ['--schema', pgStore.schema],
  },
  {
    name: 'MariaDB',
    inbox: (): InboxStore => mysqlInbox({ store: myStore }),
    env: { DATABASE_URL: MYSQL_URL },
    where: ['--table-prefix', myStore.tablePrefix],
  },
];

describe.each(cases)('scim-sync inbox on $name', ({ inbox: make, env, where }) => {
  const inbox = make();
  const org = `org_cli_${randomBytes(3).toString('hex')}`;
  const entry = (eventId: string, parkedReason?: string) => inboxEntry(org, eventId, parkedReason);

  it('status, dead-letters (text and JSON, control characters escaped) and replay of ids and of --all', async () => {
    await inbox.enqueue(entry('evt_queued'));
    const parked = await inbox.enqueue(entry('evt_dead', 'schema: occurred_at\u001b[31m red'));
    const other = await inbox.enqueue(entry('evt_dead2', 'handler failed'));

    const status = await run(['inbox', 'status', '--organization', org, ...where], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/1 queued, the oldest received/);
    expect(status.stdout).toContain('2 dead letters');
    const json = await run(['inbox', 'status', '-o', org, '--json', ...where], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ organizationId: org, depth: 1, deadLetters: 2 });

    const listed = await run(['inbox', 'dead-letters', '-o', org, ...where], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${parked.id}  `);
    expect(listed.stdout).toContain('schema: occurred_at\\u001b[31m red');
    expect(listed.stdout.includes('\u001b'), 'no escape sequence reaches the terminal').toBe(false);
    const page = await run(['inbox', 'dead-letters', '-o', org, '--limit', '1', '--json', ...where], { env });
    expect((JSON.parse(page.stdout) as { id: string }[]).map((l) => l.id)).toEqual([parked.id]);
    expect(page.stderr).toContain(`--after ${parked.id}`);
    const next = await run(['inbox', 'dead-letters', '-o', org, '--after', parked.id, '--json', ...where], { env });
    expect((JSON.parse(next.stdout) as { id: string }[]).map((l) => l.id)).toEqual([other.id]);

    const replayed = await run(['inbox', 'replay', parked.id, ...where], { env });
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain('Queued 1 dead letter again');
    const again = await run(['inbox', 'replay', parked.id, ...where], { env });
    expect(again.code, 'an id that names no dead letter any more').toBe(1);
    expect(again.stderr).toContain('1 of the 1 ids named no dead letter');
    const all = await run(['inbox', 'replay', '--all', '-o', org, '--json', ...where], { env });
    expect(JSON.parse(all.stdout)).toEqual({ replayed: 1 });
    expect(await inbox.stats(org)).toMatchObject({ depth: 3, deadLetters: 0 });
  });

  it('refuses bad input with exit 2 before touching the database', async () => {
    for (const argv of [
      ['inbox'],
      ['inbox', 'purge'],
      ['inbox', 'replay'],
      ['inbox', 'replay', '1', '--all'],
      ['inbox', 'replay', '__proto__'],
      ['inbox', 'replay', '1 or 1=1'],
      ['inbox', 'dead-letters', '--after', '-1'],
      ['inbox', 'dead-letters', '--limit', '501'],
      ['inbox', 'status', '--all'],
    ]) {
      const ran = await run([...argv, ...where], { env });
      expect(ran.code, argv.join(' ')).toBe(2);
    }
    expect((await run(['inbox', 'status'], { env: {} })).stderr).toContain('DATABASE_URL is not set');
  });
});
