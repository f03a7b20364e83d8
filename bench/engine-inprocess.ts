/**
 * The engine in-process, one core, no HTTP: how much the receiver and engine add on top of the
 * unavoidable work.
 *
 *   baseline: verify (scim-core createWebhookVerifier) + UTF-8 decode + JSON.parse + parseScalekitEvent
 *   engine:   createScalekitWebhookReceiver({ engine: createEngine({ store: memoryStore(), handlers }) })
 *             .receive({ headers, body }), awaited one after another
 *   process:  engine.process alone (same engine, store and handlers) over the same events parsed and
 *             normalized before the clock starts: the engine's own µs per event
 *   scim:     engine.process alone over what the SCIM server sends for a PATCH that only sets `active`
 *             (its hottest request): a user the SCIM server wrote, every part but `active` the
 *             store's own frozen objects, on a store seeded with SCIM_USERS of them before the clock
 *
 * Every round gets N fresh pre-signed unique events (the generator webhook-ingest uses), the engine
 * a fresh store. N is calibrated so a round takes about BENCH_ROUND_SECONDS (default 2). Rounds of
 * the two alternate; medians are reported. `--quick` or BENCH_QUICK=1: short rounds, 2 of each.
 *
 * Env: BENCH_ROUND_SECONDS, BENCH_INPROCESS_ROUNDS (default 5).
 */
import {
  createEngine,
  createScalekitWebhookReceiver,
  createWebhookVerifier,
  type DirectoryUser,
  type IncomingEvent,
  memoryStore,
  normalizeScalekitEvent,
  parseScalekitEvent,
  type WebhookAcceptedBody,
  type WebhookFailure,
} from '@org/scim-core';
import { generateWebhookSecret } from '@org/scim-testing';
import { checkEventStream, createEventStream } from './lib/events.js';
import { createMapHandlers } from './lib/handlers.js';
import {
  detectPinning,
  envNumber,
  fmt,
  machine,
  median,
  pinProcess,
  quick,
  table,
  writeResults,
} from './lib/harness.js';

const roundSeconds = envNumber('BENCH_ROUND_SECONDS', quick ? 0.3 : 2);
const rounds = Math.max(1, Math.floor(envNumber('BENCH_INPROCESS_ROUNDS', quick ? 2 : 5)));
const MIN_EVENTS = 5_000;
const MAX_EVENTS = 2_000_000;

interface Prepared {
  headers: Record<string, string>;
  body: Uint8Array;
}

type Kind = 'baseline' | 'engine' | 'process' | 'scim';
const KINDS: readonly Kind[] = ['baseline', 'engine', 'process', 'scim'];
/** Users the `scim` kind's store holds; its events flip their `active` in turn. */
const SCIM_USERS = 2_000;

interface RoundResult {
  round: number;
  kind: Kind;
  events: number;
  seconds: number;
  opsPerSec: number;
  outcomes: Record<string, number>;
  handlerCalls?: Record<string, number>;
  failures: number;
}

const secret = generateWebhookSecret();
const stream = createEventStream({ secret });
const verify = createWebhookVerifier({ secret });
const utf8 = new TextDecoder('utf-8', { fatal: true });
const gc = (globalThis as { gc?: () => void }).gc;

function prepare(count: number): Prepared[] {
  const events: Prepared[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const event = stream.next();
    events[i] = { headers: event.headers, body: event.bytes };
  }
  return events;
}

/** verify + decode + JSON.parse + zod: what any correct receiver must do. */
function baseline(events: readonly Prepared[]): { seconds: number; outcomes: Record<string, number> } {
  let ok = 0;
  const start = process.hrtime.bigint();
  for (const event of events) {
    verify(event.headers, event.body);
    if (parseScalekitEvent(JSON.parse(utf8.decode(event.body))).success) ok++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, outcomes: { parsed: ok, failed: events.length - ok } };
}

/** The full receiver and engine over a fresh store, with small handlers that write to Maps. */
async function engine(events: readonly Prepared[]) {
  const { handlers, users, calls } = createMapHandlers();
  const failures: WebhookFailure[] = [];
  const receiver = createScalekitWebhookReceiver({
    engine: createEngine({ store: memoryStore(), handlers }),
    secret,
    onError: (failure) => failures.push(failure),
  });
  const outcomes: Record<string, number> = {};
  const start = process.hrtime.bigint();
  for (const event of events) {
    const response = await receiver.receive(event);
    const key = response.status === 200 ? (response.body as WebhookAcceptedBody).status : `http_${response.status}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, outcomes, failures, handlerCalls: Object.fromEntries(calls), mirrorUsers: users.size };
}

/** `engine.process` alone over events verified, parsed and normalized before the clock starts. */
async function processOnly(events: readonly Prepared[]) {
  const normalized = events.map((event) => {
    const parsed = parseScalekitEvent(JSON.parse(utf8.decode(event.body)));
    if (!parsed.success) throw new Error(`a generated event fails the schema: ${JSON.stringify(parsed.issues)}`);
    return normalizeScalekitEvent(parsed.value);
  });
  const { handlers } = createMapHandlers();
  const engine = createEngine({ store: memoryStore(), handlers });
  gc?.();
  const outcomes: Record<string, number> = {};
  const start = process.hrtime.bigint();
  for (const event of normalized) {
    const { status } = await engine.process(event);
    outcomes[status] = (outcomes[status] ?? 0) + 1;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, outcomes };
}

/**
 * `engine.process` over SCIM PATCHes that only set `active`, shaped as the SCIM server sends them
 * (`activeOnlyPatch`, then `sharingUnchanged`): `{ ...current, active }`, so every other part is the
 * stored row's own. Built before the clock from the seeded rows, whose parts every later row shares.
 */
async function scimActive(count: number) {
  const { handlers } = createMapHandlers();
  const store = memoryStore();
  const engine = createEngine({ store, handlers });
  const organizationId = 'org_scim';
  let nanos = BigInt(Date.now()) * 1_000_000n;
  const stamp = () => {
    nanos += 1_000n;
    const iso = new Date(Number(nanos / 1_000_000n)).toISOString();
    return `${iso.slice(0, 19)}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  };
  const scimEvent = (n: number, sourceType: string, user: DirectoryUser): IncomingEvent => ({
    type: 'user.upserted',
    id: `scim_${n}`,
    organizationId,
    occurredAt: stamp(),
    source: 'scim',
    sourceType,
    user,
  });
  const rows: DirectoryUser[] = [];
  for (let i = 0; i < SCIM_USERS; i++) {
    const id = `user_${String(i).padStart(6, '0')}`;
    const email = `user${i}@example.com`;
    const user: DirectoryUser = {
      id,
      organizationId,
      active: true,
      externalId: `00u${i}`,
      userName: email,
      email,
      name: `User ${i}`,
      givenName: 'User',
      familyName: `Number${i}`,
      groups: [],
      roles: [],
      customAttributes: {},
      origin: 'scim',
      attributes: {
        scim: {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          displayName: `User ${i}`,
          title: 'Engineer',
          emails: [{ value: email, type: 'work', primary: true }],
          phoneNumbers: [{ value: '+1 415 555 0100', type: 'work' }],
        },
      },
    };
    await engine.process(scimEvent(-1 - i, 'POST /Users', user));
    rows.push((await store.getUser(organizationId, id)) as DirectoryUser);
  }
  const events: IncomingEvent[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const current = rows[i % SCIM_USERS] as DirectoryUser;
    // Every pass over the users flips them all: off, on, off, …
    const active = Math.floor(i / SCIM_USERS) % 2 === 1;
    events[i] = scimEvent(i, 'PATCH /Users', { ...current, active });
  }
  gc?.();
  const outcomes: Record<string, number> = {};
  const start = process.hrtime.bigint();
  for (const event of events) {
    const { status } = await engine.process(event);
    outcomes[status] = (outcomes[status] ?? 0) + 1;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, outcomes };
}

async function run(kind: Kind, events: readonly Prepared[], round: number): Promise<RoundResult> {
  gc?.();
  if (kind === 'process' || kind === 'scim') {
    const r = kind === 'process' ? await processOnly(events) : await scimActive(events.length);
    const failures = Object.entries(r.outcomes)
      .filter(([status]) => status !== 'applied')
      .reduce((sum, [, n]) => sum + n, 0);
    return {
      round,
      kind,
      events: events.length,
      seconds: r.seconds,
      opsPerSec: events.length / r.seconds,
      outcomes: r.outcomes,
      failures,
    };
  }
  if (kind === 'baseline') {
    const r = baseline(events);
    return {
      round,
      kind,
      events: events.length,
      seconds: r.seconds,
      opsPerSec: events.length / r.seconds,
      outcomes: r.outcomes,
      failures: r.outcomes.failed ?? 0,
    };
  }
  const r = await engine(events);
  if (r.failures.length > 0) console.error(`  engine failures, first: ${JSON.stringify(r.failures[0])}`);
  return {
    round,
    kind,
    events: events.length,
    seconds: r.seconds,
    opsPerSec: events.length / r.seconds,
    outcomes: r.outcomes,
    handlerCalls: r.handlerCalls,
    failures: Object.entries(r.outcomes)
      .filter(([key]) => key.startsWith('http_'))
      .reduce((sum, [, n]) => sum + n, 0),
  };
}

async function main() {
  const pinning = detectPinning();
  const cpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  const pinned = cpu !== undefined && pinProcess(process.pid, cpu);
  const { bodyBytes } = checkEventStream(secret);

  console.log(`engine-inprocess${quick ? ' (quick)' : ''}: ${rounds} round(s) of each, ~${roundSeconds} s per round`);
  console.log(`  unique signed user_updated events of ~${bodyBytes} bytes, users from a pool of ${stream.userPool}`);
  console.log(
    `  ${pinned ? `pinned to CPU ${cpu}` : `not pinned (${pinning.note})`}${gc ? '; gc() between rounds' : ''}`,
  );

  // Warm-up doubles as calibration: the rate of a warm batch sets N.
  const calibrate = async (kind: Kind) => {
    const size = quick ? 5_000 : 20_000;
    let rate = 0;
    for (let i = 0; i < (quick ? 2 : 3); i++) rate = (await run(kind, prepare(size), 0)).opsPerSec;
    return Math.min(MAX_EVENTS, Math.max(MIN_EVENTS, Math.round((rate * roundSeconds) / 1000) * 1000));
  };
  const n = {
    baseline: await calibrate('baseline'),
    engine: await calibrate('engine'),
    process: await calibrate('process'),
    scim: await calibrate('scim'),
  };
  console.log(
    `  N = ${fmt(n.baseline)} events per baseline round, ${fmt(n.engine)} per engine round, ${fmt(n.process)} per process round, ${fmt(n.scim)} per scim round`,
  );

  const results: RoundResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? KINDS : [...KINDS].reverse();
    for (const kind of order) {
      const r = await run(kind, prepare(n[kind]), round);
      results.push(r);
      console.log(
        `  round ${round} ${kind.padEnd(8)}: ${fmt(r.opsPerSec)} ops/s (${fmt(r.events)} events in ${r.seconds.toFixed(2)} s) ${JSON.stringify(r.outcomes)}`,
      );
    }
  }

  const summarize = (kind: Kind) => {
    const rs = results.filter((r) => r.kind === kind);
    return {
      opsPerSecMedian: median(rs.map((r) => r.opsPerSec)),
      opsPerSecRounds: rs.map((r) => Math.round(r.opsPerSec)),
      microsPerOpMedian: 1e6 / median(rs.map((r) => r.opsPerSec)),
      eventsPerRound: n[kind],
      failures: rs.reduce((sum, r) => sum + r.failures, 0),
    };
  };
  const base = summarize('baseline');
  const eng = summarize('engine');
  const proc = summarize('process');
  const scim = summarize('scim');
  const ratio = eng.opsPerSecMedian / base.opsPerSecMedian;
  const engineOverheadMicros = eng.microsPerOpMedian - base.microsPerOpMedian;

  console.log('');
  console.log(
    table(
      ['operation', 'ops/s (median)', 'µs/op', 'failures'],
      [
        [
          'verify + JSON.parse + parseScalekitEvent',
          fmt(base.opsPerSecMedian),
          fmt(base.microsPerOpMedian, 2),
          base.failures,
        ],
        [
          'receiver.receive (engine, memoryStore)',
          fmt(eng.opsPerSecMedian),
          fmt(eng.microsPerOpMedian, 2),
          eng.failures,
        ],
        [
          'engine.process alone (normalized events)',
          fmt(proc.opsPerSecMedian),
          fmt(proc.microsPerOpMedian, 2),
          proc.failures,
        ],
        [
          'engine.process, SCIM PATCH of active alone',
          fmt(scim.opsPerSecMedian),
          fmt(scim.microsPerOpMedian, 2),
          scim.failures,
        ],
      ],
    ),
  );
  console.log('');
  console.log(
    `ratio engine / baseline: ${ratio.toFixed(3)} (the engine adds ${engineOverheadMicros.toFixed(2)} µs/event)`,
  );

  const problems: string[] = [];
  if (base.failures > 0) problems.push(`${base.failures} baseline events failed to parse`);
  if (eng.failures > 0) problems.push(`${eng.failures} engine deliveries were not answered 200`);
  if (proc.failures > 0) problems.push(`${proc.failures} events given to engine.process were not applied`);
  if (scim.failures > 0) problems.push(`${scim.failures} SCIM active-only events were not applied`);
  const file = writeResults('engine-inprocess', {
    problems,
    machine: { ...machine(pinning), pinnedCpu: pinned ? cpu : null, gcBetweenRounds: Boolean(gc) },
    config: { quick, rounds, roundSeconds, bodyBytes, userPool: stream.userPool, eventsGenerated: stream.count },
    summary: { baseline: base, engine: eng, process: proc, scim, ratioEngineToBaseline: ratio, engineOverheadMicros },
    rounds: results,
  });
  console.log(`results: ${file}`);
  if (problems.length > 0) {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}\n!!! INVALID RUN\n${bar}`);
    for (const problem of problems) console.error(`!!! ${problem}`);
    console.error(bar);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error('engine-inprocess failed:', error);
  process.exitCode = 1;
});
