/**
 * What the examples' role mapping (`ACCESS_RULES`, through `accessOptions`) costs per event, against
 * the same engine with access off, in the same run:
 *
 *   off:      createEngine({ store, handlers }): no access at all (the baseline)
 *   store:    the same mapping saved with engine.access.putRules (read through the engine's cache)
 *   mapping:  the mapping from ACCESS_RULES, `createEngine({ access: accessOptions(loadConfig(env)) })`
 *
 * Each engine, on a fresh memory store, takes BENCH_ROLES_MAPPING_USERS (5,000) users created in
 * one group, then the same users moved to the next group, which grants another role (every user's
 * roles change on both passes: one accessChanged each). The mapping holds 500 rules by group id (the cap) and a default
 * role. Three interleaved rounds, medians. `--quick`: 1,000 users, one round.
 * Writes results/roles-mapping[.quick].json. Exit code 1 when accessChanged is not called once per
 * user and pass.
 */

import {
  type AccessRulesInput,
  createEngine,
  type DirectoryEvent,
  type DirectoryUser,
  type EngineOptions,
  memoryStore,
} from '@org/scim-core';
import { accessOptions, loadConfig } from '@org/scim-core/app';
import { detectPinning, envNumber, fmt, machine, median, quick, table, writeResults } from './lib/harness.js';

const USERS = envNumber('BENCH_ROLES_MAPPING_USERS', quick ? 1_000 : 5_000);
const ROUNDS = quick ? 1 : 3;
const ORG = 'org_mapping_bench';
const RULES = 500;

const mapping: AccessRulesInput = {
  defaultRoles: ['member'],
  rules: Array.from({ length: RULES }, (_, i) => ({
    match: 'groupId' as const,
    value: `dirgroup_${i}`,
    grant: [`role_${i % 17}`],
  })),
};

const user = (i: number, pass: number): DirectoryUser => ({
  id: `diruser_${String(i).padStart(7, '0')}`,
  organizationId: ORG,
  email: `user${i}@example.com`,
  active: true,
  groups: [{ id: `dirgroup_${(i + pass) % RULES}` }],
  roles: [],
  attributes: {},
  customAttributes: {},
});

/** Nanosecond timestamps in event order, 1 µs apart. */
const at = (k: number) => {
  const micros = String(k % 1_000_000).padStart(6, '0');
  return `2026-01-01T00:${String(Math.floor(k / 60_000_000) % 60).padStart(2, '0')}:${String(Math.floor(k / 1_000_000) % 60).padStart(2, '0')}.${micros}000Z`;
};

type Config = 'off' | 'store' | 'mapping';

async function run(config: Config): Promise<{ ms: number; accessChanged: number }> {
  let accessChanged = 0;
  const handlers: EngineOptions['handlers'] = { userCreated() {}, userUpdated() {}, membershipAdded() {} };
  const counted = {
    ...handlers,
    accessChanged() {
      accessChanged += 1;
    },
  };
  const env = { SCALEKIT_WEBHOOK_SECRET: 'whsec_bench', ACCESS_RULES: JSON.stringify(mapping) };
  const engine =
    config === 'off'
      ? createEngine({ store: memoryStore(), handlers })
      : config === 'store'
        ? createEngine({ store: memoryStore(), handlers: counted })
        : createEngine({ store: memoryStore(), access: accessOptions(loadConfig(env)), handlers: counted });
  if (config === 'store') await engine.access?.putRules(ORG, mapping, 0);
  let k = 0;
  const started = performance.now();
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < USERS; i++) {
      k += 1;
      const event: DirectoryEvent = {
        id: `evt_${k}`,
        type: 'user.upserted',
        organizationId: ORG,
        occurredAt: at(k),
        source: 'custom',
        sourceType: 'bench',
        user: user(i, pass),
      };
      await engine.process(event);
    }
  }
  return { ms: performance.now() - started, accessChanged };
}

async function main(): Promise<void> {
  const pinning = detectPinning();
  const configs: Config[] = ['off', 'store', 'mapping'];
  const times = new Map<Config, number[]>(configs.map((config) => [config, []]));
  const problems: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of configs) {
      const { ms, accessChanged } = await run(config);
      times.get(config)?.push(ms);
      const expected = config === 'off' ? 0 : USERS * 2;
      if (accessChanged !== expected) problems.push(`${config}: ${accessChanged} accessChanged calls, not ${expected}`);
    }
  }
  const baseline = median(times.get('off') ?? []);
  const results = configs.map((config) => {
    const ms = median(times.get(config) ?? []);
    return { config, ms, eventsPerSecond: (USERS * 2 * 1000) / ms, ratioToOff: ms / baseline };
  });
  console.log(`roles-mapping: ${fmt(USERS)} users × 2 passes, ${RULES} rules, medians of ${ROUNDS}`);
  console.log(
    table(
      ['access', 'ms', 'events/s', 'time / access off'],
      results.map((r) => [r.config, fmt(r.ms), fmt(r.eventsPerSecond), fmt(r.ratioToOff, 2)]),
    ),
  );
  const file = writeResults('roles-mapping', {
    users: USERS,
    rules: RULES,
    machine: machine(pinning),
    results,
    problems,
  });
  console.log(`\nwrote ${file}`);
  for (const problem of problems) console.error(`problem: ${problem}`);
  if (problems.length > 0) process.exitCode = 1;
}

await main();
