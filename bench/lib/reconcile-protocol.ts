/**
 * The IPC messages of the reconciliation benchmark: between `reconcile.ts` (the parent), the fake
 * Scalekit (`servers/fake-scalekit.ts`) and each client process (`lib/reconcile-client.ts`).
 * Every message is plain JSON (bigints travel as strings).
 */

// ── Parent ⇄ fake Scalekit ─────────────────────────────────────────────────────────────────────

/** The fake is listening and seeded. */
export interface FakeReady {
  type: 'ready';
  url: string;
  clientId: string;
  clientSecret: string;
  organizationId: string;
  directoryId: string;
  users: number;
  groups: number;
  seedMs: number;
}

/** Make `count` remote changes: a new familyName on `count` distinct seeded users, picked at random. */
export interface FakeChange {
  type: 'change';
  count: number;
  /** Goes into the new names, so a user changed in two rounds changes each time. */
  round: number;
}

export interface FakeChanged {
  type: 'changed';
  ids: string[];
  /** Nanoseconds since the epoch, as a string: the fake's stamps of the first and last change. */
  firstStamp: string;
  lastStamp: string;
}

export interface FakeStatsRequest {
  type: 'stats';
}

export interface FakeStats {
  type: 'stats';
  calls: Record<string, number>;
  pagesServed: number;
  tokensIssued: number;
  rssBytes: number;
}

export interface FakeStop {
  type: 'stop';
}

export type ToFake = FakeChange | FakeStatsRequest | FakeStop;
export type FromFake = FakeReady | FakeChanged | FakeStats | { type: 'error'; message: string };

// ── Parent ⇄ client ────────────────────────────────────────────────────────────────────────────

export type ScenarioGroup = 'floor' | 'naive' | 'ours';

/** What a client process is told to do, as JSON in its `BENCH_RECONCILE_JOB` environment variable. */
export interface ClientJob {
  group: ScenarioGroup;
  round: number;
  url: string;
  clientId: string;
  clientSecret: string;
  organizationId: string;
  directoryId: string;
  pageSize: number;
  /** Pages of users listed (through the source, discarded) before anything is measured. */
  warmupPages: number;
  /** Users and groups the fake holds: the loops' bounds and the checks' expectations. */
  expectedUsers: number;
  expectedGroups: number;
  /** Remote changes before the incremental run (group `ours`). */
  changes: number;
  /** Milliseconds between samples of `process.memoryUsage()`. */
  sampleMs: number;
  /** Milliseconds to wait between the full resync and the changes, and between the changes and the incremental run. */
  gapMs: number;
  /** When set, each scenario is CPU-profiled on its own (V8 profiler via `node:inspector`) into this directory. */
  profileDir?: string;
  /** The store group `ours` reconciles into: `memoryStore()`, or `postgresStore()` on a fresh schema of `databaseUrl`. */
  store: 'memory' | 'postgres';
  databaseUrl?: string;
  /**
   * What the app's handlers keep (group `ours`): `maps`, every user and group in the bench's Maps
   * (`lib/handlers.ts`, the default), or `counts`, only their call counts: an app that keeps its
   * users in its own database, as one on PostgreSQL does, so the process holds no directory.
   */
  app: 'maps' | 'counts';
}

/** Peak memory while one scenario ran, from samples every `sampleMs` plus one at its start and end. */
export interface MemoryPeak {
  rssStartBytes: number;
  rssPeakBytes: number;
  heapUsedStartBytes: number;
  heapUsedPeakBytes: number;
  samples: number;
  /**
   * The most `heapUsed` read right after a full (mark-compact) GC during the scenario, and how many
   * there were: what the run holds live (an upper bound: read when the GC's entry is delivered, a
   * little allocation later), as against the peaks above, which include garbage V8 has not collected yet.
   */
  heapAfterFullGcMaxBytes: number;
  fullGcs: number;
}

export interface StoreCalls {
  writes: Record<string, number>;
  writesTotal: number;
  bookkeeping: Record<string, number>;
  bookkeepingTotal: number;
  other: Record<string, number>;
}

export interface ScenarioResult {
  scenario: 'a' | 'b' | 'c' | 'd' | 'd2' | 'e';
  ms: number;
  /** CPU time of the client process during the scenario (user + system). */
  cpuMs: number;
  /**
   * CPU time of the PostgreSQL server's processes during the scenario (user + system, from
   * `/proc`; those alive at its end), with the PostgreSQL store on Linux: the database's work,
   * which a wall-clock ratio on two shared CPUs cannot separate from the machine's noise.
   */
  databaseCpuMs?: number;
  pages: number;
  users: number;
  groups: number;
  memory: MemoryPeak;
  /** Handler calls counted by the bench's own handlers. */
  handlerCalls: number;
  handlerCallsByName?: Record<string, number>;
  /** (c)–(e): the reconciler's report, minus the plan. */
  report?: Record<string, unknown>;
  storeCalls?: StoreCalls;
  /** The scenario's own CPU profile (BENCH_PROFILE=1). */
  profile?: string;
  /** (e): the users the fake changed. */
  changedIds?: number;
}

/** Client → parent: ask for remote changes now (group `ours`, between (d) and (e)). */
export interface ClientNeedsChanges {
  type: 'need-changes';
  count: number;
}

/** Parent → client: the fake made them. */
export interface ClientChangesDone {
  type: 'changes-done';
  ids: string[];
}

export interface ClientDone {
  type: 'done';
  results: ScenarioResult[];
  /** `process.resourceUsage().maxRSS` at the end, in bytes: the process's peak resident set. */
  maxRssBytes: number;
  warmupMs: number;
  /** CPU time of the whole process (user + system), warm-up and start-up included. */
  cpuTotalMs: number;
  /**
   * Group `ours`, at the end: the heap the app's handlers' Maps held (`heapUsed` after a gc, less
   * the same after the Maps were cleared and another gc).
   */
  appHeldBytes?: number;
  /** Things that were wrong (failed checks); the parent marks the run invalid. */
  problems: string[];
}

export type FromClient = ClientNeedsChanges | ClientDone | { type: 'error'; message: string };
export type ToClient = ClientChangesDone;
