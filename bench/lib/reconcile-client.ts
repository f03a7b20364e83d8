/**
 * One client process of the reconciliation benchmark, started by `reconcile.ts` (node with tsx and
 * `--expose-gc`, an IPC channel, pinned to the client CPU with `taskset`). It runs one scenario group against the fake Scalekit
 * with the real `ScalekitClient`, samples its own memory, and sends the results to the parent:
 *
 *   floor: (a) list every page of groups and users through the SDK, nothing else
 *   naive: (b) list every page through `scalekitDirectorySource` and, for every user and group,
 *          upsert it into the app's Map and call the bench's handler: no diffing
 *   ours:  (c) initial sync on an empty store, (d) full resync with no remote change, (d2) the
 *          same again, [the parent has the fake make `changes` remote changes], (e) incremental run
 *
 * Each group gets its own process so memory peaks do not mix. The job comes in
 * BENCH_RECONCILE_JOB (JSON, see `ClientJob`).
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import {
  createEngine,
  createReconciler,
  type DirectoryRef,
  type GroupUpdated,
  type HandlerName,
  memoryStore,
  type ProvisioningHandlers,
  type ProvisioningStore,
  type ReconcileReport,
  scalekitDirectorySource,
  type UserUpdated,
} from '@org/scim-core';
import { ScalekitClient } from '@scalekit-sdk/node';
import { countingStore, summarizeCalls } from './counting-store.js';
import { createMapHandlers } from './handlers.js';
import { postgresCpu, postgresCpuSince } from './harness.js';
import type { ClientJob, FromClient, MemoryPeak, ScenarioResult, ToClient } from './reconcile-protocol.js';

const job = JSON.parse(process.env.BENCH_RECONCILE_JOB ?? 'null') as ClientJob | null;

/** `postgresStore()` on a schema of its own (bench does not depend on @org/scim-postgres: its sources, and pg from its package). */
async function openPostgres(job: ClientJob): Promise<{ store: ProvisioningStore; close(): Promise<void> }> {
  const { postgresStore } = await import('../../packages/scim-postgres/src/index.js');
  const pg = createRequire(new URL('../../packages/scim-postgres/package.json', import.meta.url))('pg') as {
    Pool: new (config: { connectionString: string; max: number }) => PostgresPool;
  };
  const pool = new pg.Pool({ connectionString: job.databaseUrl as string, max: 10 });
  const schema = `bench_reconcile_${process.pid}_${job.round}`;
  await pool.query(`drop schema if exists ${schema} cascade`);
  const store = postgresStore({ pool, schema });
  await store.migrate();
  return {
    store,
    async close() {
      await pool.query(`drop schema if exists ${schema} cascade`);
      await pool.end();
    },
  };
}
type PostgresPool = NonNullable<
  Parameters<typeof import('../../packages/scim-postgres/src/index.js').postgresStore>[0]['pool']
>;
const gc = (globalThis as { gc?: () => void }).gc;

function send(message: FromClient): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('no IPC channel: start me with child_process.fork'));
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

if (!job || !process.send) {
  console.error('reconcile-client: started without a job or IPC channel (reconcile.ts forks me)');
  process.exit(1);
}
process.on('disconnect', () => process.exit(3));

/** Samples RSS and heapUsed every `everyMs` while a scenario runs; keeps the peaks. */
function memorySampler(everyMs: number) {
  const first = process.memoryUsage();
  const peak: MemoryPeak = {
    rssStartBytes: first.rss,
    rssPeakBytes: first.rss,
    heapUsedStartBytes: first.heapUsed,
    heapUsedPeakBytes: first.heapUsed,
    samples: 1,
    heapAfterFullGcMaxBytes: 0,
    fullGcs: 0,
  };
  const fullGcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as unknown as { detail?: { kind?: number } };
      if (detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      peak.fullGcs += 1;
      const { heapUsed } = process.memoryUsage();
      if (heapUsed > peak.heapAfterFullGcMaxBytes) peak.heapAfterFullGcMaxBytes = heapUsed;
    }
  });
  fullGcs.observe({ entryTypes: ['gc'] });
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peak.rssPeakBytes) peak.rssPeakBytes = m.rss;
    if (m.heapUsed > peak.heapUsedPeakBytes) peak.heapUsedPeakBytes = m.heapUsed;
    peak.samples += 1;
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop(): MemoryPeak {
      clearInterval(timer);
      fullGcs.disconnect();
      sample();
      return peak;
    },
  };
}

/** With `job.profileDir`: the V8 CPU profiler, started and stopped around each scenario alone. */
const inspector = job?.profileDir ? new Session() : undefined;
inspector?.connect();
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) =>
    inspector?.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );

/** Runs `fn` as one measured scenario: a gc() first, wall and CPU time, memory peaks. */
async function measure<T>(
  scenario: ScenarioResult['scenario'],
  fn: () => Promise<T>,
): Promise<{ value: T; ms: number; cpuMs: number; databaseCpuMs?: number; memory: MemoryPeak; profile?: string }> {
  const { sampleMs, profileDir, round } = job as ClientJob;
  gc?.();
  if (inspector) {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
  }
  const sampler = memorySampler(sampleMs);
  const database = job?.store === 'postgres' ? postgresCpu() : undefined;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await fn();
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const databaseCpuMs = postgresCpuSince(database);
  const memory = sampler.stop();
  let profile: string | undefined;
  if (inspector && profileDir) {
    const { profile: data } = (await post('Profiler.stop')) as { profile: unknown };
    profile = join(profileDir, `reconcile-${scenario}-r${round}-${Date.now()}.cpuprofile`);
    writeFileSync(profile, JSON.stringify(data));
  }
  return {
    value,
    ms,
    cpuMs: (used.user + used.system) / 1000,
    ...(databaseCpuMs !== undefined && { databaseCpuMs }),
    memory,
    ...(profile && { profile }),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function main(job: ClientJob) {
  const problems: string[] = [];
  const client = new ScalekitClient(job.url, job.clientId, job.clientSecret);
  const source = scalekitDirectorySource(client, { includeDetail: true });
  const dir: DirectoryRef = { organizationId: job.organizationId, directoryId: job.directoryId };
  const { organizationId, directoryId, pageSize } = job;
  // Every listing loop is bounded by the pages the seeded directory needs, plus slack.
  const maxPages = (n: number) => Math.ceil(n / pageSize) + 10;
  const bounded = (pages: number, limit: number, what: string) => {
    if (pages > limit) throw new Error(`${what}: more than ${limit} pages; is the fake paging?`);
  };

  // Warm-up, identical in every process: the token, the HTTP/2 session, and the SDK's, protobuf's
  // and the source's code paths get hot before anything is measured.
  const warmStart = performance.now();
  await source.listGroups(dir, { pageSize });
  let warmToken: string | undefined;
  for (let page = 0; page < job.warmupPages; page++) {
    const listed = await source.listUsers(dir, { pageSize, ...(warmToken !== undefined && { pageToken: warmToken }) });
    warmToken = listed.nextPageToken;
    if (warmToken === undefined) break;
  }
  const warmupMs = performance.now() - warmStart;
  const results: ScenarioResult[] = [];
  let appHeldBytes: number | undefined;

  if (job.group === 'floor') {
    // (a) Only the SDK's listing, every page, nothing done with what it returns.
    const run = await measure('a', async () => {
      let pages = 0;
      let groups = 0;
      let users = 0;
      let token = '';
      do {
        const response = await client.directory.listDirectoryGroups(organizationId, directoryId, {
          pageSize,
          includeDetail: true,
          ...(token !== '' && { pageToken: token }),
        });
        groups += response.groups.length;
        token = response.nextPageToken;
        bounded(++pages, maxPages(job.expectedGroups), 'floor groups');
      } while (token !== '');
      do {
        const response = await client.directory.listDirectoryUsers(organizationId, directoryId, {
          pageSize,
          includeDetail: true,
          ...(token !== '' && { pageToken: token }),
        });
        users += response.users.length;
        token = response.nextPageToken;
        bounded(++pages, maxPages(job.expectedGroups) + maxPages(job.expectedUsers), 'floor users');
      } while (token !== '');
      return { pages, groups, users };
    });
    results.push({
      scenario: 'a',
      ...run.value,
      ms: run.ms,
      cpuMs: run.cpuMs,
      memory: run.memory,
      handlerCalls: 0,
      ...(run.profile && { profile: run.profile }),
    });
  }

  if (job.group === 'naive') {
    // (b) What the seeds describe: every user, every time, into the app's table and its handler.
    const app = createMapHandlers();
    const appUsers = new Map<string, unknown>();
    const appGroups = new Map<string, unknown>();
    const { userUpdated, groupUpdated } = app.handlers;
    const run = await measure('b', async () => {
      let pages = 0;
      let groups = 0;
      let users = 0;
      let token: string | undefined;
      do {
        const page = await source.listGroups(dir, { pageSize, ...(token !== undefined && { pageToken: token }) });
        for (const { group } of page.items) {
          appGroups.set(group.id, group);
          // The bench's handlers read only `group` / `user`; a naive sync has no event or transaction to give them.
          await groupUpdated?.({ group, previous: group, changed: [] } as unknown as GroupUpdated);
          groups++;
        }
        token = page.nextPageToken;
        bounded(++pages, maxPages(job.expectedGroups), 'naive groups');
      } while (token !== undefined);
      do {
        const page = await source.listUsers(dir, { pageSize, ...(token !== undefined && { pageToken: token }) });
        for (const { user } of page.items) {
          appUsers.set(user.id, user);
          await userUpdated?.({ user, previous: user, changed: [] } as unknown as UserUpdated);
          users++;
        }
        token = page.nextPageToken;
        bounded(++pages, maxPages(job.expectedGroups) + maxPages(job.expectedUsers), 'naive users');
      } while (token !== undefined);
      return { pages, groups, users };
    });
    const handlerCalls = [...app.calls.values()].reduce((a, b) => a + b, 0);
    results.push({
      scenario: 'b',
      ...run.value,
      ms: run.ms,
      cpuMs: run.cpuMs,
      memory: run.memory,
      ...(run.profile && { profile: run.profile }),
      handlerCalls,
      handlerCallsByName: Object.fromEntries(app.calls),
    });
    if (appUsers.size !== job.expectedUsers) problems.push(`(b) the app's table holds ${appUsers.size} users`);
    if (appGroups.size !== job.expectedGroups) problems.push(`(b) the app's table holds ${appGroups.size} groups`);
  }

  if (job.group === 'ours') {
    const postgres = job.store === 'postgres' ? await openPostgres(job) : undefined;
    const counting = countingStore(postgres?.store ?? memoryStore());
    const app = createMapHandlers();
    // `counts`: the same handlers, counting their calls, keeping nothing (the app's table is elsewhere).
    const handlers: ProvisioningHandlers =
      job.app === 'counts'
        ? Object.fromEntries(
            Object.keys(app.handlers).map((name) => [
              name,
              () => {
                app.calls.set(name as HandlerName, (app.calls.get(name as HandlerName) ?? 0) + 1);
              },
            ]),
          )
        : app.handlers;
    const engine = createEngine({ store: counting.store, handlers });
    const reconciler = createReconciler({
      engine,
      source,
      pageSize,
      // The fake was seeded seconds ago: the default 5-minute overlap would re-list every user.
      incrementalOverlapMs: 0,
    });
    const handlerTotal = () => [...app.calls.values()].reduce((a, b) => a + b, 0);

    const scenario = async (
      name: 'c' | 'd' | 'd2' | 'e',
      run: () => Promise<ReconcileReport>,
      extra: Partial<ScenarioResult> = {},
    ) => {
      counting.reset();
      const before = new Map(app.calls);
      const handlersBefore = handlerTotal();
      const measured = await measure(name, run);
      const { plan: _plan, ...report } = measured.value;
      const byName = Object.fromEntries(
        [...app.calls].map(([key, n]) => [key, n - (before.get(key) ?? 0)]).filter(([, n]) => n !== 0),
      );
      const result: ScenarioResult = {
        scenario: name,
        ms: measured.ms,
        cpuMs: measured.cpuMs,
        ...(measured.databaseCpuMs !== undefined && { databaseCpuMs: measured.databaseCpuMs }),
        pages: report.pages,
        users: report.users.listed,
        groups: report.groups.listed,
        memory: measured.memory,
        ...(measured.profile && { profile: measured.profile }),
        handlerCalls: handlerTotal() - handlersBefore,
        handlerCallsByName: byName,
        report: report as unknown as Record<string, unknown>,
        storeCalls: summarizeCalls(counting.counts()),
        ...extra,
      };
      results.push(result);
      if (report.status !== 'completed')
        problems.push(`(${name}) status ${report.status}${report.error ? `: ${report.error.message}` : ''}`);
      return { report: measured.value, result };
    };

    // (c) Initial sync on an empty store.
    const c = await scenario('c', () => reconciler.reconcile(organizationId));
    if (c.report.users.created !== job.expectedUsers)
      problems.push(`(c) created ${c.report.users.created} users, expected ${job.expectedUsers}`);
    if (c.report.groups.created !== job.expectedGroups)
      problems.push(`(c) created ${c.report.groups.created} groups, expected ${job.expectedGroups}`);

    // (d) Full resync, nothing changed remotely: no write, no handler call. Then (d2), the same
    // again: (d) is the first run to ask the store for the fingerprints of the rows (c) wrote, and
    // memoryStore computes those lazily, once per row; (d2) shows the steady state.
    const resync = async (name: 'd' | 'd2') => {
      const d = await scenario(name, () => reconciler.reconcile(organizationId));
      const writes = d.result.storeCalls?.writesTotal ?? -1;
      if (writes !== 0)
        problems.push(
          `(${name}) wrote ${writes} times to the ledger/versions/mirror: ${JSON.stringify(d.result.storeCalls)}`,
        );
      if (d.report.handlerCalls !== 0) problems.push(`(${name}) report.handlerCalls is ${d.report.handlerCalls}`);
      if (d.result.handlerCalls !== 0)
        problems.push(`(${name}) the handlers were called ${d.result.handlerCalls} times`);
      if (d.report.events !== 0) problems.push(`(${name}) report.events is ${d.report.events}`);
      if (d.report.users.unchanged !== job.expectedUsers)
        problems.push(`(${name}) ${d.report.users.unchanged} users unchanged, expected ${job.expectedUsers}`);
    };
    await resync('d');
    await resync('d2');

    // The remote changes, with a little wall time on either side: the incremental run asks for
    // users changed after the start of (d2) (overlap 0), and these stamps must be later than that.
    await sleep(job.gapMs);
    await send({ type: 'need-changes', count: job.changes });
    const changed = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the parent did not report the changes within 60 s')), 60_000);
      process.once('message', (message: ToClient) => {
        clearTimeout(timer);
        resolve(message.ids);
      });
    });
    await sleep(job.gapMs);

    // (e) Incremental run: must find exactly those changes.
    const e = await scenario('e', () => reconciler.reconcile(organizationId, { mode: 'incremental' }), {
      changedIds: changed.length,
    });
    if (e.report.mode !== 'incremental') problems.push(`(e) ran as ${e.report.mode}, not incremental`);
    if (e.report.users.updated !== job.changes)
      problems.push(
        `(e) updated ${e.report.users.updated} users, expected ${job.changes} (listed ${e.report.users.listed})`,
      );
    await postgres?.close();
    if (gc) {
      gc();
      const held = process.memoryUsage().heapUsed;
      app.users.clear();
      app.groups.clear();
      app.memberships.clear();
      gc();
      appHeldBytes = held - process.memoryUsage().heapUsed;
    }
  }

  await send({
    type: 'done',
    results,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    warmupMs,
    cpuTotalMs: (() => {
      const used = process.cpuUsage();
      return (used.user + used.system) / 1000;
    })(),
    problems,
    ...(appHeldBytes !== undefined && { appHeldBytes }),
  });
  process.exit(0);
}

main(job).catch(async (error) => {
  await send({ type: 'error', message: (error as Error).stack ?? String(error) }).catch(() => {});
  process.exit(1);
});
