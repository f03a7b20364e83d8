/**
 * Hostile input (issue 12): what the worst request of each kind costs our SCIM server at 10,000
 * users, against a plain `userName eq` lookup measured in the same run.
 *
 * A server process (this file with `--serve`, real HTTP on 127.0.0.1, pinned to the server CPU)
 * runs `createScimServer` from `@org/scim-core` on `memoryStore()` (and, where it matters, on
 * `postgresStore`), seeded with SCIM_USERS users (`lib/scim-users.ts`) through its own
 * `POST /Users` before it listens. It measures in-process what each request costs it
 * (`lib/loop-probe.ts`: the longest event-loop delay, `perf_hooks.monitorEventLoopDelay`, and the
 * growth of RSS and heap). The load side sends each request class a bounded number of times, one
 * request at a time, timing each:
 *
 *   - baseline: `GET /Users?filter=userName eq "user<N/2>@bench.test"` (before and after the rest)
 *   - long filter: `title eq "0" or title eq "1" or …` up to ~10 KB
 *   - deep filter: 2,500 nested parentheses; 3,000 nested `not(`
 *   - long dotted `sortBy`: `name.familyName.x.x.…` up to ~14 KB
 *   - reference: an unindexed filter (`displayName co "zzz"`): one scan of every user
 *   - user in many groups: a user in 2,000 (and 20,000) groups joins one more, is read, patched, deleted
 *   - big group: `POST /Groups` with 10,000 members, `GET` it, `DELETE` it
 *   - fat resources: users of ~1 MB (`emails` of ~18,000 entries) created, then a list of 200 of them
 *
 * Sizes do not assume the server's limits: each class first sends the issue's size; if that is
 * refused, a bounded binary search (on 2xx or not) finds the largest size the server accepts, and
 * both it and the next size up ("just over") are measured. Every status is recorded beside its cost.
 * A 5xx, a connection error, an event-loop delay over 100 ms, or memory growth over 64 MB beyond
 * three times the response's size is a problem: printed, written to the JSON (`valid: false`), exit 1.
 *
 * Env: SCIM_USERS (10,000), BENCH_HOSTILE_STORES (memory,pg), BENCH_HOSTILE_REPS (5; quick 3),
 * BENCH_HOSTILE_BASELINE_REPS (100; quick 40), BENCH_HOSTILE_MANY_GROUPS (2000,20000; quick 2000),
 * BENCH_HOSTILE_BIG_GROUP (10,000 members, at most SCIM_USERS), BENCH_HOSTILE_FAT_USERS (200),
 * BENCH_HOSTILE_LOOP_RESOLUTION_MS (5), DATABASE_URL (postgres://postgres@127.0.0.1:5432/test).
 * Writes results/hostile.json (`hostile.quick.json` for --quick).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import {
  createEngine,
  createScimServer,
  type DirectoryEvent,
  type DirectoryGroup,
  type DirectoryUser,
  formatNanos,
  hashScimToken,
  memoryStore,
  type ProvisioningStore,
  scimTokenAuthenticator,
  toWebRequest,
  writeWebResponse,
} from '@org/scim-core';
import {
  benchDir,
  detectPinning,
  envNumber,
  fmt,
  installExitHooks,
  machine,
  machineLoad,
  median,
  pinnedCommand,
  pinProcess,
  processCpuSeconds,
  quick,
  type Server,
  startServer,
  systemTicks,
  table,
  writeResults,
} from './lib/harness.js';
import { createLoopProbe, handleProbeRoute, type ProbeReading, probed } from './lib/loop-probe.js';
import { newPool } from './lib/pg.js';
import { CORE_USER_SCHEMA, SCIM_BASE_PATH, SCIM_BENCH_TOKEN, scimUserBody, userNameOf } from './lib/scim-users.js';

const ORG = 'org_bench_hostile';
/** An event without what every write stamps on it. */
type Change = { type: 'user.upserted'; user: DirectoryUser } | { type: 'group.upserted'; group: DirectoryGroup };
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const HEADERS = {
  authorization: `Bearer ${SCIM_BENCH_TOKEN}`,
  accept: 'application/scim+json',
  'content-type': 'application/scim+json',
};
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RESOLUTION_MS = envNumber('BENCH_HOSTILE_LOOP_RESOLUTION_MS', 5);
/** Seeding and the in-process set-up run this many SCIM requests or engine events at once. */
const SEED_CONCURRENCY = 16;

/** What this bench uses of a pool (`lib/pg.ts`). */
type PgPool = {
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
};
function pgPool(application: string, max: number, options?: string): PgPool {
  return newPool({
    connectionString: DATABASE_URL,
    max,
    application_name: application,
    ...(options && { options }),
  });
}

/** An error and its causes, one line (the engine wraps the store's error). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, i = 0; e !== undefined && e !== null && i < 5; i++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(' ← ').slice(0, 500);
}

/** Runs `work(i)` for i < n, `limit` at once; collects the first error instead of throwing at once. */
async function inParallel(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (next < n && failure === undefined) {
      const i = next++;
      try {
        await work(i);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
  if (failure !== undefined) throw failure;
}

// =============================================================================================
// The server process (`--serve`)

async function serve(): Promise<void> {
  const kind = process.env.HOSTILE_STORE === 'pg' ? 'pg' : 'memory';
  const users = Number(process.env.SCIM_USERS ?? 10_000);
  const authenticator = scimTokenAuthenticator([{ organizationId: ORG, tokenHash: hashScimToken(SCIM_BENCH_TOKEN) }]);
  let store: ProvisioningStore;
  /** What the set-up writes through: on PostgreSQL a second store on the same schema, without waiting for WAL flushes. */
  let setupStore: ProvisioningStore;
  const pools: PgPool[] = [];
  if (kind === 'pg') {
    // bench does not depend on @org/scim-postgres: the store from its sources, as postgres.ts takes it.
    const { postgresStore } = await import('../packages/scim-postgres/src/index.js');
    type Pool = Parameters<typeof postgresStore>[0]['pool'];
    const schema = process.env.HOSTILE_PG_SCHEMA as string;
    const pool = pgPool('bench-hostile-server', SEED_CONCURRENCY);
    const setupPool = pgPool('bench-hostile-setup', SEED_CONCURRENCY, '-c synchronous_commit=off');
    pools.push(pool, setupPool);
    const pgStore = postgresStore({ pool: pool as unknown as Pool, schema });
    await pgStore.migrate();
    store = pgStore;
    setupStore = postgresStore({ pool: setupPool as unknown as Pool, schema, migrate: false });
  } else {
    store = memoryStore();
    setupStore = store;
  }
  const scim = createScimServer({ engine: createEngine({ store }), authenticator });
  const setupEngine = createEngine({ store: setupStore });
  const setupScim = createScimServer({ engine: setupEngine, authenticator });
  /** A SCIM request of the set-up, in-process, through `handle` as the HTTP path takes it. */
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await setupScim.handle(
      new Request(`http://127.0.0.1${SCIM_BASE_PATH}${path}`, {
        method,
        headers: HEADERS,
        ...(body !== undefined && { body: JSON.stringify(body) }),
      }),
    );
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as { id: string }) : undefined;
  };

  // Seeding: every user through POST /Users, so the store holds what a SCIM client would have made.
  const seedStart = performance.now();
  const ids: string[] = new Array(users);
  await inParallel(users, SEED_CONCURRENCY, async (i) => {
    ids[i] = (await call('POST', '/Users', scimUserBody(i + 1)))?.id as string;
  });
  console.log(`hostile-server (${kind}) seeded ${users} users in ${Math.round(performance.now() - seedStart)} ms`);

  /** Engine events for the set-up, stamped like SCIM's own (strictly increasing nanoseconds). */
  let lastNanos = 0n;
  const stamp = () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    lastNanos = now > lastNanos ? now : lastNanos + 1n;
    return formatNanos(lastNanos);
  };
  const setupEvent = async (event: Change) => {
    const result = await setupEngine.process({
      ...event,
      id: `scim_${randomUUID()}`,
      organizationId: ORG,
      occurredAt: stamp(),
      source: 'scim',
      sourceType: 'bench set-up',
    } as DirectoryEvent);
    if (result.status !== 'applied') throw new Error(`set-up event ${event.type}: ${result.status}`);
  };
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  /**
   * Set-up the SCIM API cannot do cheaply: `count` groups (one `group.upserted` event each, as
   * `POST /Groups` without members makes), then, with `member`, that user put in all of them with
   * one `user.upserted` event (through SCIM, one POST per group would rewrite the user's groups
   * each time: quadratic).
   */
  async function seedGroups(body: { count: number; prefix: string; member?: string }) {
    const groups: { id: string; name: string }[] = new Array(body.count);
    await inParallel(body.count, SEED_CONCURRENCY, async (i) => {
      const group = { id: randomUUID(), organizationId: ORG, displayName: `${body.prefix}${i}` };
      await setupEvent({ type: 'group.upserted', group });
      groups[i] = { id: group.id, name: group.displayName };
    });
    if (body.member !== undefined) {
      const user = await setupStore.getUser(ORG, body.member);
      if (!user) throw new Error(`no user ${body.member}`);
      await setupEvent({ type: 'user.upserted', user: { ...user, groups: [...user.groups, ...groups].sort(byId) } });
    }
    return { groups: groups.length, first: groups[0]?.id };
  }

  /** Set-up: the users put in one group, one event each (what `POST /Groups` with members does). */
  async function seedMembers(body: { group: string; members: string[] }) {
    const group = await setupStore.getGroup(ORG, body.group);
    if (!group) throw new Error(`no group ${body.group}`);
    await inParallel(body.members.length, SEED_CONCURRENCY, async (i) => {
      const user = await setupStore.getUser(ORG, body.members[i] as string);
      if (!user) throw new Error(`no user ${body.members[i]}`);
      const groups = [...user.groups, { id: group.id, name: group.displayName }].sort(byId);
      await setupEvent({ type: 'user.upserted', user: { ...user, groups } });
    });
    return { members: body.members.length };
  }

  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  };
  const control = (res: ServerResponse, work: () => Promise<unknown>) => {
    const started = performance.now();
    work().then(
      (result) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: true, ms: performance.now() - started, ...(result as object) })),
      (error: unknown) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: false, ms: performance.now() - started, error: describeError(error) })),
    );
  };

  const probe = createLoopProbe({ resolutionMs: RESOLUTION_MS });
  const server = createServer((req, res) => {
    if (handleProbeRoute(probe, req, res)) return;
    const path = (req.url ?? '').split('?')[0];
    if (path === '/bench/user-ids' && req.method === 'GET') return control(res, async () => ({ ids }));
    if (path === '/bench/seed/groups' && req.method === 'POST')
      return control(res, async () => seedGroups(await readBody(req)));
    if (path === '/bench/seed/members' && req.method === 'POST')
      return control(res, async () => seedMembers(await readBody(req)));
    (async () => {
      try {
        await writeWebResponse(res, await scim.handle(toWebRequest(req)), req);
      } catch (error) {
        if (!res.headersSent) res.writeHead(500).end(String(error));
        else res.destroy();
      }
    })();
  });
  server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
    const address = server.address() as AddressInfo;
    console.log(`hostile-server listening on http://${address.address}:${address.port}`);
  });
  const close = () => {
    probe.stop();
    server.close(() => void Promise.allSettled(pools.map((pool) => pool.end())).finally(() => process.exit(0)));
    server.closeAllConnections();
  };
  process.on('SIGINT', close);
  process.on('SIGTERM', close);
}

// =============================================================================================
// The load side

type StoreKind = 'memory' | 'pg';
const users = Math.floor(envNumber('SCIM_USERS', 10_000));
const reps = Math.max(1, Math.floor(envNumber('BENCH_HOSTILE_REPS', quick ? 3 : 5)));
const baselineReps = Math.max(5, Math.floor(envNumber('BENCH_HOSTILE_BASELINE_REPS', quick ? 40 : 100)));
const bigGroupMembers = Math.min(users, Math.floor(envNumber('BENCH_HOSTILE_BIG_GROUP', 10_000)));
const fatUsers = Math.max(1, Math.floor(envNumber('BENCH_HOSTILE_FAT_USERS', quick ? 50 : 200)));
const manyGroups = (process.env.BENCH_HOSTILE_MANY_GROUPS ?? (quick ? '2000' : '2000,20000'))
  .split(',')
  .map((s) => Math.floor(Number(s)))
  .filter((n) => n > 1);
const stores = (process.env.BENCH_HOSTILE_STORES ?? 'memory,pg')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is StoreKind => s === 'memory' || s === 'pg');

/** Stop repeating a request once its repetitions have taken this long (at least one is always sent). */
const ROW_BUDGET_MS = 10_000;
/** The unmeasured fat-user creations stop after this long; the list then holds those stored. */
const FAT_SETUP_BUDGET_MS = 120_000;
const runStarted = performance.now();
/** Seconds since the run started, for the progress lines. */
const at = () => `[${String(Math.round((performance.now() - runStarted) / 1000)).padStart(4)} s]`;
const REQUEST_TIMEOUT_MS = 180_000;
const START_TIMEOUT_MS = 600_000;
const LOOP_PROBLEM_MS = 100;
const MEMORY_PROBLEM_MB = 64;
const MB = 1024 * 1024;

const lookupUserName = userNameOf(Math.max(1, Math.floor(users / 2)));

interface Attempt {
  status: number;
  ms: number;
  responseBytes: number;
  requestBytes: number;
  reading?: ProbeReading;
  error?: string;
}

interface Row {
  store: StoreKind;
  cls: string;
  request: string;
  size: string;
  /** `issue size`, `largest accepted`, `just over` (the next size up), or `fixed`. */
  role: string;
  attempts: Attempt[];
  note?: string;
}

interface Search {
  store: StoreKind;
  cls: string;
  issueSize: number;
  accepted?: number;
  refused?: number;
  probes: { size: number; status: number }[];
}

interface Req {
  method: string;
  path: string;
  body?: string;
}

/** The query string as a browser-free client sends it: `+` for spaces, `( ) . ' * ! ~` raw (all legal in a query). */
const q = (params: Record<string, string>) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%20/g, '+')}`)
    .join('&');
const usersPath = (params: Record<string, string>) => `${SCIM_BASE_PATH}/Users?${q(params)}`;

// The attacks, by size. Each is a request a SCIM client may send, built from declared attributes.
const longFilter = (terms: number) => Array.from({ length: terms }, (_, i) => `title eq "${i}"`).join(' or ');
const deepParens = (depth: number) => `${'('.repeat(depth)}title eq "x"${')'.repeat(depth)}`;
const deepNot = (depth: number) => `${'not('.repeat(depth)}title eq "x"${')'.repeat(depth)}`;
const dottedSortBy = (parts: number) =>
  ['name', 'familyName', ...Array.from({ length: Math.max(0, parts - 2) }, () => 'x')].slice(0, parts).join('.');
/** The largest n with `size(n)` characters at most `chars`. */
function sizedFor(chars: number, size: (n: number) => number): number {
  let n = 1;
  while (size(n * 2) <= chars) n *= 2;
  for (let step = n >> 1; step >= 1; step >>= 1) if (size(n + step) <= chars) n += step;
  return n;
}
const LONG_FILTER_TERMS = sizedFor(10 * 1024, (n) => longFilter(n).length);
const SORT_BY_PARTS = sizedFor(14 * 1024, (n) => dottedSortBy(n).length);
const DEEP_PARENS = 2_500;
const DEEP_NOT = 3_000;

/**
 * A user whose `emails` hold `entries` addresses: about 40 bytes per entry. Every fat user's name has
 * the same length (`fatl-0001`, `fatp-0001`, …), so a size means the same bytes whoever sends it.
 */
const fatUser = (userName: string, entries: number) =>
  JSON.stringify({
    schemas: [CORE_USER_SCHEMA],
    userName,
    emails: Array.from({ length: entries }, (_, j) => ({
      value: `e${String(j).padStart(6, '0')}@fat.bench.test`,
      type: 'other',
    })),
    active: true,
  });
/** `fat<kind>-<nnnn>`: `l` the listed users, `p` the size probes, `i` the issue's size, `o` just over. */
const fatName = (kind: 'l' | 'p' | 'i' | 'o', i: number) => `fat${kind}-${String(i).padStart(4, '0')}`;
/** Entries for a body of about 1,000,000 bytes (under the 1 MiB body limit): the issue's "~1 MB each". */
const FAT_ENTRIES = sizedFor(1_000_000, (n) => fatUser(fatName('l', 0), n).length);

const kb = (bytes: number) => `${fmt(bytes / 1024, bytes < 10_240 ? 1 : 0)} KB`;

class Run {
  readonly rows: Row[] = [];
  readonly searches: Search[] = [];
  readonly problems: string[] = [];
  readonly setup: { store: StoreKind; what: string; ok: boolean; ms: number; error?: string }[] = [];
  /** CPU used by other processes while this store's requests ran, in % of one CPU, and steal. */
  noise: { otherCpuPercent: number; stealPercent: number; seconds: number } | undefined;
  server!: Server;
  ids: string[] = [];

  constructor(readonly store: StoreKind) {}

  get port() {
    return this.server.port;
  }

  alive() {
    return this.server.child.exitCode === null && this.server.child.signalCode === null;
  }

  async send(req: Req): Promise<Attempt> {
    const started = performance.now();
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}${req.path}`, {
        method: req.method,
        headers: HEADERS,
        ...(req.body !== undefined && { body: req.body }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const bytes = (await response.arrayBuffer()).byteLength;
      return {
        status: response.status,
        ms: performance.now() - started,
        responseBytes: bytes,
        requestBytes: req.path.length + (req.body?.length ?? 0),
      };
    } catch (error) {
      return {
        status: 0,
        ms: performance.now() - started,
        responseBytes: 0,
        requestBytes: req.path.length + (req.body?.length ?? 0),
        error: String((error as Error).cause ?? error).slice(0, 300),
      };
    }
  }

  /** `count` unprobed requests, `limit` at once (set-up sent as a client would). */
  async sendAll(count: number, limit: number, make: (i: number) => Req, budgetMs: number): Promise<Attempt[]> {
    const attempts: Attempt[] = [];
    const started = performance.now();
    await inParallel(Math.max(0, count), limit, async (i) => {
      if (this.alive() && performance.now() - started < budgetMs) attempts.push(await this.send(make(i)));
    });
    return attempts;
  }

  /** `count` probed attempts, request `i` from `make(i)`; stops early after ROW_BUDGET_MS. */
  async measure(
    row: Omit<Row, 'store' | 'attempts'>,
    count: number,
    make: (i: number) => Req,
    budgetMs = ROW_BUDGET_MS,
  ): Promise<Row> {
    const full: Row = { ...row, store: this.store, attempts: [] };
    this.rows.push(full);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      if (!this.alive()) break;
      try {
        const { result, reading } = await probed(this.port, () => this.send(make(i)));
        full.attempts.push({ ...result, reading });
      } catch (error) {
        full.attempts.push({ status: 0, ms: 0, responseBytes: 0, requestBytes: 0, error: String(error) });
      }
      if (full.attempts.at(-1)?.status === 0) break;
      if (performance.now() - started > budgetMs) break;
    }
    const last = full.attempts.at(-1);
    console.log(
      `${at()} ${this.store.padEnd(6)} ${row.cls.padEnd(18)} ${row.role.padEnd(16)} ${row.size.padEnd(22)} ` +
        `${statusSummary(full.attempts).padEnd(10)} median ${fmt(median(full.attempts.map((a) => a.ms)), 1)} ms, ` +
        `loop ${fmt(Math.max(0, ...full.attempts.map((a) => a.reading?.maxDelayMs ?? 0)))} ms` +
        (last?.error ? `, error ${last.error}` : ''),
    );
    return full;
  }

  /**
   * The largest size in [min, max] answered 2xx (the server's limit, found without assuming it):
   * `max` first; when refused, a binary search. Probes are not measured; each is one request.
   */
  async search(cls: string, min: number, max: number, make: (size: number, probe: number) => Req): Promise<Search> {
    const found: Search = { store: this.store, cls, issueSize: max, probes: [] };
    this.searches.push(found);
    const ok = async (size: number) => {
      const attempt = await this.send(make(size, found.probes.length));
      found.probes.push({ size, status: attempt.status });
      return attempt.status >= 200 && attempt.status < 300;
    };
    if (await ok(max)) found.accepted = max;
    else if (!this.alive() || !(await ok(min))) found.refused = min;
    else {
      let [lo, hi] = [min, max];
      while (hi - lo > 1 && this.alive()) {
        const mid = Math.floor((lo + hi) / 2);
        if (await ok(mid)) lo = mid;
        else hi = mid;
      }
      found.accepted = lo;
      found.refused = hi;
    }
    const failed = found.probes.filter((p) => p.status >= 500 || p.status === 0);
    if (failed.length > 0)
      this.problems.push(
        `${this.store} ${cls}: ${failed.length} size probe(s) answered 5xx or failed (sizes ${failed.map((p) => `${p.size}→${p.status}`).join(', ')})`,
      );
    return found;
  }

  /**
   * For a class searched by size: the issue's size (when refused), the largest accepted, and the
   * next size up (just over the limit), each measured `count` times.
   */
  async sized(
    cls: string,
    issueSize: number,
    describe: (size: number) => string,
    make: (size: number, i: number) => Req,
    count = reps,
  ) {
    const s = await this.search(cls, 1, issueSize, (size) => make(size, -1));
    const rowOf = (size: number, role: string) =>
      this.measure({ cls, request: make(size, 0).method, size: describe(size), role }, count, (i) => make(size, i));
    if (s.accepted !== issueSize) await rowOf(issueSize, 'issue size');
    if (s.accepted !== undefined) await rowOf(s.accepted, s.accepted === issueSize ? 'issue size' : 'largest accepted');
    if (s.refused !== undefined && s.refused !== issueSize)
      await rowOf(s.refused, s.accepted === undefined ? 'smallest refused' : 'just over');
    return s;
  }

  async control(what: string, path: string, body?: unknown): Promise<Record<string, unknown> | undefined> {
    const started = performance.now();
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        signal: AbortSignal.timeout(START_TIMEOUT_MS),
      });
      const result = (await response.json()) as { ok: boolean; ms: number; error?: string };
      this.setup.push({
        store: this.store,
        what,
        ok: result.ok,
        ms: result.ms,
        ...(result.error && { error: result.error }),
      });
      if (!result.ok) {
        this.problems.push(`${this.store} set-up "${what}" failed: ${result.error}`);
        console.log(
          `${at()} ${this.store.padEnd(6)} set-up ${what}: FAILED after ${fmt(result.ms)} ms: ${result.error}`,
        );
        return undefined;
      }
      console.log(`${at()} ${this.store.padEnd(6)} set-up ${what}: ${fmt(result.ms)} ms`);
      return result as unknown as Record<string, unknown>;
    } catch (error) {
      const ms = performance.now() - started;
      this.setup.push({ store: this.store, what, ok: false, ms, error: String(error) });
      this.problems.push(`${this.store} set-up "${what}" failed: ${String(error)}`);
      return undefined;
    }
  }

  async userIds(): Promise<string[]> {
    const result = await this.control('read user ids', '/bench/user-ids');
    const ids = (result?.ids ?? []) as string[];
    if (ids.length !== users || ids.some((id) => typeof id !== 'string'))
      throw new Error(`the server holds ${ids.length} seeded ids, expected ${users}`);
    return ids;
  }
}

function statusSummary(attempts: readonly Attempt[]): string {
  const counts = new Map<number, number>();
  for (const a of attempts) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${status === 0 ? 'err' : status}×${n}`).join(' ');
}

// ---------------------------------------------------------------------------------------------
// The classes

async function baseline(run: Run, role: string) {
  const req = { method: 'GET', path: usersPath({ filter: `userName eq "${lookupUserName}"` }) };
  if (role === 'before') for (let i = 0; i < 50; i++) await run.send(req); // warm-up
  await run.measure(
    { cls: 'baseline', request: 'GET', size: 'userName eq, 1 match', role },
    baselineReps,
    () => req,
    60_000,
  );
}

async function filters(run: Run) {
  await run.sized(
    'long filter',
    LONG_FILTER_TERMS,
    (n) => `${fmt(n)} terms, ${kb(longFilter(n).length)}`,
    (n) => ({ method: 'GET', path: usersPath({ filter: longFilter(n) }) }),
  );
  await run.sized(
    'deep filter ( )',
    DEEP_PARENS,
    (d) => `depth ${fmt(d)}, ${kb(deepParens(d).length)}`,
    (d) => ({ method: 'GET', path: usersPath({ filter: deepParens(d) }) }),
  );
  await run.sized(
    'deep filter not(',
    DEEP_NOT,
    (d) => `depth ${fmt(d)}, ${kb(deepNot(d).length)}`,
    (d) => ({ method: 'GET', path: usersPath({ filter: deepNot(d) }) }),
  );
  await run.sized(
    'long sortBy',
    SORT_BY_PARTS,
    (n) => `${fmt(n)} parts, ${kb(dottedSortBy(n).length)}`,
    (n) => ({ method: 'GET', path: usersPath({ sortBy: dottedSortBy(n), count: '200' }) }),
  );
  await run.measure(
    { cls: 'reference: scan', request: 'GET', size: 'displayName co, 0 match', role: 'fixed' },
    reps,
    () => ({
      method: 'GET',
      path: usersPath({ filter: 'displayName co "zzz"' }),
    }),
  );
}

/** A user in `count` groups (set up in-process) joins one more, is read, patched and deleted. */
async function userInManyGroups(run: Run, count: number, userIndex: number) {
  const cls = `user in ${fmt(count)} groups`;
  const member = run.ids[userIndex] as string;
  const seeded = await run.control(`user in ${fmt(count - 1)} groups`, '/bench/seed/groups', {
    count: count - 1,
    prefix: `many-${count}-`,
    member,
  });
  if (!seeded) {
    console.log(`${at()} ${run.store.padEnd(6)} ${cls}: not measured, the set-up failed (see the problems)`);
    return;
  }
  const join = (i: number) => ({
    method: 'POST',
    path: `${SCIM_BASE_PATH}/Groups`,
    body: JSON.stringify({
      schemas: [GROUP_SCHEMA],
      displayName: `many-${count}-join-${i}`,
      members: [{ value: member }],
    }),
  });
  await run.measure(
    { cls, request: 'POST', size: `POST /Groups, joins #${fmt(count)}`, role: 'fixed' },
    Math.min(reps, 3),
    join,
  );
  await run.measure({ cls, request: 'GET', size: 'GET /Users/{id}', role: 'fixed' }, reps, () => ({
    method: 'GET',
    path: `${SCIM_BASE_PATH}/Users/${member}`,
  }));
  await run.measure({ cls, request: 'PATCH', size: 'PATCH /Users/{id} active', role: 'fixed' }, reps, (i) => ({
    method: 'PATCH',
    path: `${SCIM_BASE_PATH}/Users/${member}`,
    body: JSON.stringify({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: i % 2 === 1 }],
    }),
  }));
  await run.measure({ cls, request: 'DELETE', size: 'DELETE /Users/{id}', role: 'fixed' }, 1, () => ({
    method: 'DELETE',
    path: `${SCIM_BASE_PATH}/Users/${member}`,
  }));
}

/**
 * A group of every seeded user (10,000): made with `POST /Groups` (measured; on PostgreSQL only with
 * BENCH_HOSTILE_PG_BIG_POST=1, as it takes minutes there), or in-process when that is skipped or
 * refused; then `GET` it and `DELETE` it.
 */
async function bigGroup(run: Run) {
  const cls = `group of ${fmt(bigGroupMembers)}`;
  const members = run.ids.slice(0, bigGroupMembers);
  const body = JSON.stringify({
    schemas: [GROUP_SCHEMA],
    displayName: 'All employees',
    members: members.map((value) => ({ value })),
  });
  let groupId: string | undefined;
  if (run.store === 'memory' || process.env.BENCH_HOSTILE_PG_BIG_POST === '1') {
    const create = await run.measure(
      { cls, request: 'POST', size: `POST /Groups, ${kb(body.length)}`, role: 'fixed' },
      1,
      () => ({ method: 'POST', path: `${SCIM_BASE_PATH}/Groups`, body }),
    );
    const created = create.attempts[0];
    if (created && created.status >= 200 && created.status < 300) groupId = await findGroup(run, 'All employees');
  }
  if (!groupId) {
    // Skipped or refused: the same group made in-process, so that its deletion is still measured.
    const made = await run.control('a group', '/bench/seed/groups', { count: 1, prefix: 'All employees (set-up) ' });
    const id = made?.first as string | undefined;
    if (id && (await run.control(`${fmt(members.length)} members`, '/bench/seed/members', { group: id, members })))
      groupId = id;
  }
  if (!groupId) {
    run.problems.push(
      `${run.store} ${cls}: no group of ${members.length} members could be made; its deletion is not measured`,
    );
    return;
  }
  const id = groupId;
  await run.measure({ cls, request: 'GET', size: 'GET /Groups/{id}', role: 'fixed' }, Math.min(reps, 3), () => ({
    method: 'GET',
    path: `${SCIM_BASE_PATH}/Groups/${id}`,
  }));
  await run.measure({ cls, request: 'DELETE', size: 'DELETE /Groups/{id}', role: 'fixed' }, 1, () => ({
    method: 'DELETE',
    path: `${SCIM_BASE_PATH}/Groups/${id}`,
  }));
}

async function findGroup(run: Run, displayName: string): Promise<string | undefined> {
  const response = await fetch(
    `http://127.0.0.1:${run.port}${SCIM_BASE_PATH}/Groups?${q({ filter: `displayName eq "${displayName}"`, attributes: 'id' })}`,
    { headers: HEADERS, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
  );
  if (!response.ok) return undefined;
  return ((await response.json()) as { Resources?: { id: string }[] }).Resources?.[0]?.id;
}

/** Fat users: the largest the server stores (up to ~1 MB), `fatUsers` of them, then a list of them. */
async function fatResources(run: Run) {
  const cls = 'fat resources';
  const describe = (entries: number) => `POST /Users, ${kb(fatUser(fatName('l', 0), entries).length)}`;
  const s = await run.search(cls, 1, FAT_ENTRIES, (entries, probe) => ({
    method: 'POST',
    path: `${SCIM_BASE_PATH}/Users`,
    body: fatUser(fatName('p', probe), entries),
  }));
  const post = (entries: number, name: (i: number) => string) => (i: number) => ({
    method: 'POST',
    path: `${SCIM_BASE_PATH}/Users`,
    body: fatUser(name(i), entries),
  });
  if (s.accepted !== FAT_ENTRIES)
    await run.measure(
      { cls, request: 'POST', size: describe(FAT_ENTRIES), role: 'issue size' },
      reps,
      post(FAT_ENTRIES, (i) => fatName('i', i)),
    );
  if (s.accepted === undefined) {
    run.problems.push(`${run.store} ${cls}: the server refused even a user with one email; nothing to list`);
    return;
  }
  // The fat users themselves: the first `reps` creations measured, the rest sent unprobed (4 at a
  // time, 8 on PostgreSQL; a probe's gc() over a heap of fat users costs more than the request),
  // for at most FAT_SETUP_BUDGET_MS, then listed.
  const name = (i: number) => fatName('l', i);
  const created = await run.measure(
    {
      cls,
      request: 'POST',
      size: describe(s.accepted),
      role: s.accepted === FAT_ENTRIES ? 'issue size' : 'largest accepted',
    },
    Math.min(reps, fatUsers),
    post(s.accepted, name),
  );
  const rest = await run.sendAll(
    fatUsers - created.attempts.length,
    run.store === 'pg' ? 8 : 4,
    (i) => post(s.accepted as number, name)(created.attempts.length + i),
    FAT_SETUP_BUDGET_MS,
  );
  const stored = [...created.attempts, ...rest].filter((a) => a.status === 201).length;
  const failed = rest.filter((a) => a.status >= 500 || a.status === 0);
  if (failed.length > 0)
    run.problems.push(
      `${run.store} ${cls}: ${failed.length} of the unmeasured fat-user creations answered 5xx or failed (${statusSummary(failed)})`,
    );
  console.log(
    `${at()} ${run.store.padEnd(6)} ${cls}: ${fmt(stored)} fat users stored (${statusSummary(rest)} unmeasured)`,
  );
  if (s.refused !== undefined && s.refused !== FAT_ENTRIES)
    await run.measure(
      { cls, request: 'POST', size: describe(s.refused), role: 'just over' },
      reps,
      post(s.refused, (i) => fatName('o', i)),
    );
  await run.measure(
    { cls, request: 'GET', size: `list of ${fmt(stored)} fat users`, role: 'fixed' },
    Math.min(reps, 3),
    () => ({ method: 'GET', path: usersPath({ filter: 'userName sw "fatl-"', count: String(fatUsers) }) }),
  );
}

// ---------------------------------------------------------------------------------------------

interface Summary {
  store: StoreKind;
  cls: string;
  role: string;
  size: string;
  statuses: string;
  n: number;
  medianMs: number;
  maxMs: number;
  ratio: number;
  /** The server's CPU time per request (median, max) and the median's ratio to the lookup's. */
  cpuMs: number;
  maxCpuMs: number;
  cpuRatio: number;
  maxLoopDelayMs: number;
  rssGrowthMb: number;
  heapGrowthMb: number;
  responseKb: number;
  requestKb: number;
  note?: string;
}

function summarize(row: Row, baselineMs: number, baselineCpuMs: number): Summary {
  const a = row.attempts;
  const readings = a.map((x) => x.reading).filter((r): r is ProbeReading => r !== undefined);
  const medianMs = median(a.map((x) => x.ms));
  return {
    store: row.store,
    cls: row.cls,
    role: row.role,
    size: row.size,
    statuses: statusSummary(a),
    n: a.length,
    medianMs,
    maxMs: Math.max(0, ...a.map((x) => x.ms)),
    ratio: medianMs / baselineMs,
    cpuMs: median(readings.map((r) => r.cpuMs)),
    maxCpuMs: Math.max(0, ...readings.map((r) => r.cpuMs)),
    cpuRatio: median(readings.map((r) => r.cpuMs)) / baselineCpuMs,
    maxLoopDelayMs: Math.max(0, ...readings.map((r) => r.maxDelayMs)),
    rssGrowthMb: Math.max(0, ...readings.map((r) => r.rssGrowthMb)),
    heapGrowthMb: Math.max(0, ...readings.map((r) => r.heapGrowthMb)),
    responseKb: median(a.map((x) => x.responseBytes)) / 1024,
    requestKb: median(a.map((x) => x.requestBytes)) / 1024,
    ...(row.note && { note: row.note }),
  };
}

function problemsOf(row: Row, s: Summary): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const what = `${row.store} ${row.cls} (${row.role}, ${row.size})`;
  const failed = row.attempts.filter((a) => a.status >= 500 || a.status === 0);
  if (failed.length > 0)
    problems.push(
      `${what}: ${failed.length} of ${row.attempts.length} answered 5xx or failed (${statusSummary(failed)}${failed[0]?.error ? `: ${failed[0].error}` : ''})`,
    );
  // A lookup does not block a loop for 100 ms: when one seems to, the machine held the process
  // back (other load), which says the figures are noisy, not that the lookup is hostile.
  if (s.maxLoopDelayMs > LOOP_PROBLEM_MS)
    (row.cls === 'baseline' ? warnings : problems).push(
      `${what}: ${row.cls === 'baseline' ? 'the event loop was delayed' : 'blocked the event loop'} for ${fmt(s.maxLoopDelayMs)} ms (over ${LOOP_PROBLEM_MS} ms)` +
        (row.cls === 'baseline'
          ? ` while its CPU time stayed at ${fmt(s.maxCpuMs, 1)} ms at most: other load on the machine`
          : ''),
    );
  const worst = row.attempts.reduce(
    (m, a) =>
      Math.max(m, Math.max(a.reading?.rssGrowthMb ?? 0, a.reading?.heapGrowthMb ?? 0) - (3 * a.responseBytes) / MB),
    0,
  );
  if (worst > MEMORY_PROBLEM_MB)
    problems.push(
      `${what}: grew memory by ${fmt(worst)} MB beyond 3× its response (over ${MEMORY_PROBLEM_MB} MB; RSS +${fmt(s.rssGrowthMb)} MB, heap +${fmt(s.heapGrowthMb)} MB)`,
    );
  return { problems, warnings };
}

async function startHostileServer(kind: StoreKind, schema: string, serverCpu: number | undefined): Promise<Server> {
  const [command, args] = pinnedCommand(serverCpu, process.execPath, [
    '--expose-gc',
    '--import',
    'tsx',
    'hostile.ts',
    '--serve',
  ]);
  return startServer({
    name: `hostile-${kind}`,
    command,
    args,
    cwd: benchDir,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      SCIM_USERS: String(users),
      HOSTILE_STORE: kind,
      HOSTILE_PG_SCHEMA: schema,
    },
    timeoutMs: START_TIMEOUT_MS,
  });
}

async function main() {
  installExitHooks(40 * 60_000);
  const pinning = detectPinning();
  const clientCpu = pinning.available ? pinning.allowed[0] : undefined;
  const serverCpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  if (clientCpu !== undefined && !pinProcess(process.pid, clientCpu))
    console.warn('  could not pin the load generator');
  const loadBefore = loadavg();
  console.log(
    `hostile: ${fmt(users)} users; stores ${stores.join(', ')}; ${reps} repetitions per request (fewer past ${ROW_BUDGET_MS / 1000} s), ` +
      `${baselineReps} lookups before and after; loop-delay resolution ${RESOLUTION_MS} ms`,
  );
  console.log(`  ${pinning.note}${pinning.available ? `; load on CPU ${clientCpu}, server on CPU ${serverCpu}` : ''}`);
  console.log(
    `  issue sizes: long filter ${fmt(LONG_FILTER_TERMS)} terms (${kb(longFilter(LONG_FILTER_TERMS).length)}), ` +
      `deep filter ${fmt(DEEP_PARENS)} ( and ${fmt(DEEP_NOT)} not(, sortBy ${fmt(SORT_BY_PARTS)} parts (${kb(dottedSortBy(SORT_BY_PARTS).length)}), ` +
      `fat users ${kb(fatUser(fatName('l', 0), FAT_ENTRIES).length)} × ${fatUsers}, group of ${fmt(bigGroupMembers)}, ` +
      `user in ${manyGroups.map((n) => fmt(n)).join(' and ')} groups`,
  );

  const runs: Run[] = [];
  const serverStarts: Record<string, number> = {};
  for (const kind of stores) {
    const run = new Run(kind);
    runs.push(run);
    const schema = `bench_hostile_${process.pid}_${randomBytes(3).toString('hex')}`;
    const started = performance.now();
    console.log(`\n${kind}: starting the server and seeding ${fmt(users)} users…`);
    try {
      run.server = await startHostileServer(kind, schema, serverCpu);
      serverStarts[kind] = (performance.now() - started) / 1000;
      console.log(`  started and seeded in ${fmt(serverStarts[kind] ?? 0, 1)} s`);
      run.ids = await run.userIds();
      const ticksBefore = systemTicks();
      const serverCpuBefore = processCpuSeconds(run.server.pid) ?? 0;
      const clientCpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const steps: [string, () => Promise<void>][] = [
        ['baseline', () => baseline(run, 'before')],
        ...(kind === 'memory' ? ([['filters', () => filters(run)]] as [string, () => Promise<void>][]) : []),
        // The big group first: it holds every seeded user, and the next step deletes some.
        ['big group', () => bigGroup(run)],
        ...manyGroups.map(
          (count, i) =>
            [`user in ${count} groups`, () => userInManyGroups(run, count, users - 1 - i)] as [
              string,
              () => Promise<void>,
            ],
        ),
        ['baseline after', () => baseline(run, 'after')],
        // Last: the fat users stay in the store (and the heap) to the end.
        ['fat resources', () => fatResources(run)],
      ];
      for (const [name, step] of steps) {
        if (!run.alive()) {
          run.problems.push(
            `${kind}: the server died (${run.server.child.exitCode ?? run.server.child.signalCode}) before "${name}"; stderr: ${run.server.stderr().slice(-400)}`,
          );
          break;
        }
        await step();
      }
      const seconds = (performance.now() - wallBefore) / 1000;
      const client = process.cpuUsage(clientCpuBefore);
      const ours = (client.user + client.system) / 1e6 + ((processCpuSeconds(run.server.pid) ?? 0) - serverCpuBefore);
      const noise = machineLoad(ticksBefore, systemTicks(), seconds, ours);
      if (noise) run.noise = { ...noise, seconds };
    } catch (error) {
      run.problems.push(`${kind}: ${(error as Error).message}`);
      console.error(`  ${kind}: ${(error as Error).message}`);
    } finally {
      if (run.server && !run.alive())
        run.problems.push(
          `${kind}: the server exited (${run.server.child.exitCode ?? run.server.child.signalCode}); stderr: ${run.server.stderr().slice(-400)}`,
        );
      await run.server?.stop();
      if (kind === 'pg') {
        const pool = pgPool('bench-hostile-cleanup', 1);
        await pool.query(`drop schema if exists ${schema} cascade`).catch((error: unknown) => {
          run.problems.push(`pg: could not drop schema ${schema}: ${String(error)}`);
        });
        await pool.end();
      }
    }
  }

  // Figures, each against the lookup of the same run and store.
  const summaries: Summary[] = [];
  const problems: string[] = [];
  const rowWarnings: string[] = [];
  const baselines: Record<string, { beforeMs: number; afterMs: number; medianMs: number; cpuMs: number }> = {};
  for (const run of runs) {
    const lookups = run.rows.filter((r) => r.cls === 'baseline');
    const all = lookups.flatMap((r) => r.attempts.filter((a) => a.status === 200).map((a) => a.ms));
    const atRole = (role: string) => median(lookups.find((r) => r.role === role)?.attempts.map((a) => a.ms) ?? []);
    const baselineMs = median(all);
    const baselineCpuMs = median(
      lookups.flatMap((r) => r.attempts.filter((a) => a.status === 200).map((a) => a.reading?.cpuMs ?? Number.NaN)),
    );
    baselines[run.store] = {
      beforeMs: atRole('before'),
      afterMs: atRole('after'),
      medianMs: baselineMs,
      cpuMs: baselineCpuMs,
    };
    if (!Number.isFinite(baselineMs)) run.problems.push(`${run.store}: no baseline lookup answered 200`);
    for (const row of run.rows) {
      const s = summarize(row, baselineMs, baselineCpuMs);
      summaries.push(s);
      const found = problemsOf(row, s);
      run.problems.push(...found.problems);
      rowWarnings.push(...found.warnings);
    }
    problems.push(...run.problems);
  }

  for (const run of runs) {
    const b = baselines[run.store];
    console.log(
      `\n${run.store}: ${fmt(users)} users; baseline userName eq lookup median ${fmt(b?.medianMs ?? Number.NaN, 2)} ms ` +
        `(before ${fmt(b?.beforeMs ?? Number.NaN, 2)}, after ${fmt(b?.afterMs ?? Number.NaN, 2)}), ` +
        `server CPU ${fmt(b?.cpuMs ?? Number.NaN, 2)} ms; ratio = median / that`,
    );
    console.log(
      table(
        [
          'class',
          'size',
          'role',
          'status',
          'median ms',
          'ratio',
          'CPU ms',
          'CPU ratio',
          'loop max ms',
          'RSS +MB',
          'heap +MB',
          'resp KB',
        ],
        summaries
          .filter((s) => s.store === run.store)
          .map((s) => [
            s.cls,
            s.size,
            s.role,
            s.statuses,
            fmt(s.medianMs, s.medianMs < 10 ? 2 : 0),
            fmt(s.ratio, s.ratio < 10 ? 1 : 0),
            fmt(s.cpuMs, s.cpuMs < 10 ? 1 : 0),
            fmt(s.cpuRatio, s.cpuRatio < 10 ? 1 : 0),
            fmt(s.maxLoopDelayMs),
            fmt(s.rssGrowthMb),
            fmt(s.heapGrowthMb),
            fmt(s.responseKb),
          ]),
      ),
    );
  }
  for (const f of runs.flatMap((r) => r.setup).filter((x) => !x.ok))
    console.log(`set-up FAILED on ${f.store}: ${f.what}, after ${fmt(f.ms)} ms: ${f.error}`);
  console.log(
    `\nloop max: the longest event-loop delay any one of its requests caused (monitorEventLoopDelay, ${RESOLUTION_MS} ms resolution); ` +
      "CPU ms: the server process's CPU time per request (median); " +
      'RSS/heap +MB: the largest growth over one request (sampled every 10 ms, after a gc() at the mark).',
  );
  const loadAfter = loadavg();
  const warnings = [
    ...rowWarnings,
    ...runs
      .filter((r) => r.noise && r.noise.otherCpuPercent > 10)
      .map(
        (r) =>
          `${r.store}: other processes used ${fmt(r.noise?.otherCpuPercent ?? 0)} % of a CPU while its requests ran ` +
          `(steal ${fmt(r.noise?.stealPercent ?? 0, 1)} %): latencies and loop delays include time the server waited for a CPU; CPU ms does not`,
      ),
  ];
  console.log(
    `load average before ${loadBefore.map((l) => l.toFixed(2)).join(', ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(', ')}`,
  );
  for (const w of warnings) console.warn(`WARNING: ${w}`);
  if (problems.length > 0) {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}\n!!! PROBLEMS (the server's, found by this run)\n${bar}`);
    for (const p of problems) console.error(`!!! ${p}`);
    console.error(bar);
    process.exitCode = 1;
  }
  const file = writeResults('hostile', {
    quick,
    problems,
    warnings,
    noise: Object.fromEntries(runs.map((r) => [r.store, r.noise ?? null])),
    settings: {
      users,
      stores,
      reps,
      baselineReps,
      rowBudgetMs: ROW_BUDGET_MS,
      loopResolutionMs: RESOLUTION_MS,
      loopProblemMs: LOOP_PROBLEM_MS,
      memoryProblemMb: MEMORY_PROBLEM_MB,
      lookupUserName,
      issueSizes: {
        longFilterTerms: LONG_FILTER_TERMS,
        longFilterChars: longFilter(LONG_FILTER_TERMS).length,
        deepParens: DEEP_PARENS,
        deepNot: DEEP_NOT,
        sortByParts: SORT_BY_PARTS,
        sortByChars: dottedSortBy(SORT_BY_PARTS).length,
        fatUserEntries: FAT_ENTRIES,
        fatUserBytes: fatUser(fatName('l', 0), FAT_ENTRIES).length,
        fatUsers,
        bigGroupMembers,
        manyGroups,
      },
    },
    machine: {
      ...machine(pinning),
      loadGeneratorCpu: clientCpu ?? null,
      serverCpu: serverCpu ?? null,
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAfter,
    },
    serverStartAndSeedSeconds: serverStarts,
    baselines,
    summary: summaries,
    searches: runs.flatMap((r) => r.searches),
    setup: runs.flatMap((r) => r.setup),
    rows: runs.flatMap((r) => r.rows),
  });
  console.log(`results: ${file}`);
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
