/**
 * Re-evaluating an organization's app roles after its mapping changed (issue 16), against the
 * time to list the same users from the same store in the same run:
 *
 *   list:     store.listUsers(org, { after, limit: 500 }) until the end (the floor: reading everyone)
 *   dry run:  engine.access.reevaluate(org, { dryRun: true }) (list + roles read + evaluate)
 *   apply:    engine.access.reevaluate(org, { force: true }) after the mapping moved: the plan, then
 *             one access.reevaluated event per 500 changed users (locks, reads, accessChanged, writes)
 *
 * An organization of BENCH_ROLES_USERS (100,000) users in BENCH_ROLES_GROUPS (2,000) groups, each
 * user in 2 groups; 400 rules by group id; the change moves 200 of them to other groups and adds a
 * default role, so every user changes. On memory and on PostgreSQL (TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test, a schema of its own, dropped at the end).
 * `--quick`: 10,000 users in 200 groups, memory and PostgreSQL. Writes results/roles[.quick].json.
 * BENCH_ROLES_MATCH=groupName: the same rules by group name (the engine then reads the users'
 * group rows), written to results/roles.by-name[.quick].json.
 *
 * Exit code 1 when a check fails: the apply does not change every user, or accessChanged is not
 * called exactly once per changed user.
 */
import { randomBytes } from 'node:crypto';
import {
  type AccessRulesInput,
  createEngine,
  type DirectoryUser,
  memoryStore,
  type ProvisioningStore,
} from '@org/scim-core';
import { postgresStore } from '../packages/scim-postgres/src/index.js';
import { detectPinning, envNumber, fmt, machine, quick, table, writeResults } from './lib/harness.js';
import { newPool } from './lib/pg.js';

const USERS = envNumber('BENCH_ROLES_USERS', quick ? 10_000 : 100_000);
const GROUPS = envNumber('BENCH_ROLES_GROUPS', quick ? 200 : 2_000);
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORG = 'org_roles_bench';
const PAGE = 500;
const BY_NAME = process.env.BENCH_ROLES_MATCH === 'groupName';

const groupId = (i: number) => `dirgroup_${String(i % GROUPS).padStart(5, '0')}`;
const userAt = (i: number): DirectoryUser => ({
  id: `diruser_${String(i).padStart(7, '0')}`,
  organizationId: ORG,
  email: `user${i}@example.com`,
  active: true,
  groups: [{ id: groupId(i) }, { id: groupId(i * 7 + 1) }].sort((a, b) => (a.id < b.id ? -1 : 1)),
  roles: [],
  attributes: {},
  customAttributes: {},
});

/** Rules by group id: `count` groups starting at `from`, every fifth one. */
function rules(from: number, count: number, extra: Partial<AccessRulesInput> = {}): AccessRulesInput {
  return {
    rules: Array.from({ length: count }, (_, i) => ({
      match: BY_NAME ? ('groupName' as const) : ('groupId' as const),
      value: BY_NAME ? `group ${(from + i * 5) % GROUPS}` : groupId(from + i * 5),
      grant: [`role_${(from + i * 5) % 17}`],
    })),
    ...extra,
  };
}

/** Puts the organization's users straight into the store, 1,000 per transaction (their ids locked). */
async function populate(store: ProvisioningStore) {
  for (let start = 0; start < USERS; start += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, USERS - start) }, (_, i) => userAt(start + i));
    await store.transaction(
      batch.map((u) => ({ organizationId: ORG, kind: 'user' as const, id: u.id })),
      async (tx) => {
        for (const user of batch) await tx.putUser(user);
      },
    );
  }
  for (let g = 0; g < GROUPS; g++) {
    await store.putGroup({ id: groupId(g), organizationId: ORG, displayName: `Group ${g}` });
  }
}

async function listAll(store: ProvisioningStore): Promise<number> {
  let after: string | undefined;
  let n = 0;
  for (;;) {
    const page = await store.listUsers(ORG, { ...(after !== undefined && { after }), limit: PAGE });
    n += page.length;
    if (page.length < PAGE) return n;
    after = page[page.length - 1]?.id;
  }
}

const ms = async <T>(work: () => Promise<T>): Promise<[number, T]> => {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
};

async function measure(name: string, store: ProvisioningStore, problems: string[]) {
  const calls = new Map<string, number>();
  const engine = createEngine({
    store,
    access: { rulesCacheMs: 0 },
    handlers: {
      accessChanged: ({ user }) => {
        calls.set(user.id, (calls.get(user.id) ?? 0) + 1);
      },
    },
  });
  const access = engine.access;
  if (!access) throw new Error('access is on');
  const [populateMs] = await ms(() => populate(store));
  await access.putRules(ORG, rules(0, 400), 0);
  const [grantMs, granted] = await ms(() => access.reevaluate(ORG, { force: true }));
  calls.clear();
  const [listMs, listed] = await ms(() => listAll(store));
  await access.putRules(ORG, rules(2, 200, { defaultRoles: ['member'] }), 1);
  const [dryMs, plan] = await ms(() => access.reevaluate(ORG, { dryRun: true }));
  const [applyMs, applied] = await ms(() => access.reevaluate(ORG, { force: true }));
  const [listAgainMs] = await ms(() => listAll(store));
  if (listed !== USERS) problems.push(`${name}: listed ${listed} of ${USERS} users`);
  if (applied.changed !== USERS) problems.push(`${name}: the change moved ${applied.changed} of ${USERS} users`);
  if (calls.size !== applied.changed || [...calls.values()].some((n) => n !== 1)) {
    problems.push(`${name}: accessChanged was not called exactly once per changed user`);
  }
  const list = (listMs + listAgainMs) / 2;
  return {
    name,
    populateMs,
    initialGrantMs: grantMs,
    initiallyGranted: granted.changed,
    listMs: list,
    dryRunMs: dryMs,
    planned: plan.changed,
    applyMs,
    changed: applied.changed,
    dryRunPerList: dryMs / list,
    applyPerList: applyMs / list,
  };
}

async function main() {
  const pinning = detectPinning();
  const problems: string[] = [];
  const results = [await measure('memory', memoryStore(), problems)];
  const schema = `bench_roles_${randomBytes(3).toString('hex')}`;
  const pool = newPool({ connectionString: DATABASE_URL, max: 4, application_name: 'bench-roles' });
  const store = postgresStore({ pool, schema });
  try {
    await store.migrate();
    results.push(await measure('postgres', store, problems));
  } finally {
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await store.close();
  }
  console.log(
    `roles: ${fmt(USERS)} users in ${fmt(GROUPS)} groups, rules by group ${BY_NAME ? 'name' : 'id'}, every user's roles changed`,
  );
  console.log(
    table(
      ['store', 'list ms', 'dry run ms', 'apply ms', 'dry run / list', 'apply / list', 'changed'],
      results.map((r) => [
        r.name,
        fmt(r.listMs),
        fmt(r.dryRunMs),
        fmt(r.applyMs),
        fmt(r.dryRunPerList, 1),
        fmt(r.applyPerList, 1),
        fmt(r.changed),
      ]),
    ),
  );
  const file = writeResults(BY_NAME ? 'roles.by-name' : 'roles', {
    users: USERS,
    groups: GROUPS,
    match: BY_NAME ? 'groupName' : 'groupId',
    machine: machine(pinning),
    results,
    problems,
  });
  console.log(`wrote ${file}`);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) process.exitCode = 1;
}

await main();
