/**
 * SCIM server benchmark (issues 6 and 14): our `createScimServer` on bare `node:http` (through
 * `handleScimNodeRequest`, as the Express and Fastify adapters mount it) against SCIMMY 1.3 +
 * scimmy-routers on Express 4 (the baseline of /work/shared/BENCHMARKS.md), each in its own child
 * process pinned to the server CPU, both seeded with the same users (100,000; `--quick`: 10,000) and
 * one group of users 1..10,000 (`--quick`: 9,999).
 *
 * Four requests, each measured against both servers in turn (interleaved: ours, SCIMMY, next
 * request), with autocannon over loopback: a warm-up, then a bounded measured run.
 *
 *   - `GET /Users?filter=userName eq "user<N/2>@bench.test"` (target: ours ≥ 10× SCIMMY)
 *   - `PATCH /Users/{id}` replacing `active`, alternately false and true (≥ 20×)
 *   - `GET /Users?startIndex=5001&count=100` (≥ 100×)
 *   - `PATCH /Groups/{id}` adding one user to the 10,000-member group, alternately with its removal
 *     in Entra's form (`op: remove, path: members, value: [{ value }]`), so the group stays at its
 *     size (≥ 20×). Ours answers 204 for a group over 1,000 members (docs/scim-server.md), SCIMMY
 *     200 with the whole group: that, and reading and rewriting the whole member list, is the
 *     difference the request measures.
 *
 * Prints req/s, p50 and p99 per server and the ratio ours / SCIMMY against each request's target;
 * writes results/scim.json (`scim.quick.json` for --quick). Any non-2xx answer or connection error
 * makes the run INVALID (exit 1).
 *
 * Env: BENCH_CONNECTIONS (32), BENCH_WARMUP_SECONDS (1), BENCH_DURATION_SECONDS (5; --quick 2),
 * SCIM_USERS (100,000; --quick 10,000), SCIM_GROUP_MEMBERS (10,000, at most SCIM_USERS - 1).
 */
import autocannon from 'autocannon';
import {
  benchDir,
  detectPinning,
  envNumber,
  fmt,
  installExitHooks,
  machine,
  machineLoad,
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
import {
  BENCH_GROUP_NAME,
  groupMembersFromEnv,
  SCIM_BASE_PATH,
  SCIM_BENCH_TOKEN,
  userNameOf,
} from './lib/scim-users.js';

const users = envNumber('SCIM_USERS', quick ? 10_000 : 100_000);
const connections = envNumber('BENCH_CONNECTIONS', 32);
const warmupSeconds = envNumber('BENCH_WARMUP_SECONDS', 1);
const durationSeconds = envNumber('BENCH_DURATION_SECONDS', quick ? 2 : 5);
const members = groupMembersFromEnv(users);
const START_TIMEOUT_MS = 180_000;
/**
 * Every measurement starts with one timed request (which must answer 2xx). One slower than this is
 * not loaded with autocannon (32 such requests at once would outlast its 10 s timeout and the run's
 * budget): that one request's time stands for the server's figure, req/s being its inverse.
 */
const PROBE_LIMIT_MS = 1_000;
const PROBE_TIMEOUT_MS = 180_000;

const SERVERS = [
  { key: 'ours', label: 'ours (createScimServer, node:http)', script: 'servers/scim-ours.ts' },
  { key: 'scimmy', label: 'SCIMMY 1.3 + scimmy-routers, Express 4', script: 'servers/scim-scimmy.ts' },
] as const;
type ServerKey = (typeof SERVERS)[number]['key'];

const HEADERS = {
  authorization: `Bearer ${SCIM_BENCH_TOKEN}`,
  accept: 'application/scim+json',
  'content-type': 'application/scim+json',
};
const lookupUserName = userNameOf(Math.max(1, Math.floor(users / 2)));
const patchBody = (active: boolean) =>
  JSON.stringify({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'replace', path: 'active', value: active }],
  });

/** What the scenarios address, read through each server before measuring. */
interface Ids {
  /** The lookup user (user N/2). */
  user: string;
  /** The bench group. */
  group: string;
  /** User members + 1, not in the group. */
  member: string;
}

interface Scenario {
  key: string;
  label: string;
  /** ours / SCIMMY req/s to reach (issue 14). */
  target: number;
  requests(ids: Ids): autocannon.Request[];
}

const memberPatch = (op: 'add' | 'remove', id: string) =>
  JSON.stringify({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op, path: 'members', value: [{ value: id }] }],
  });

const SCENARIOS: Scenario[] = [
  {
    key: 'filter-userName',
    label: `GET /Users?filter=userName eq "${lookupUserName}"`,
    target: 10,
    requests: () => [
      {
        method: 'GET',
        path: `${SCIM_BASE_PATH}/Users?filter=${encodeURIComponent(`userName eq "${lookupUserName}"`)}`,
      },
    ],
  },
  {
    key: 'patch-active',
    label: 'PATCH /Users/{id} replace active',
    target: 20,
    requests: (ids) =>
      [false, true].map((active) => ({
        method: 'PATCH' as const,
        path: `${SCIM_BASE_PATH}/Users/${ids.user}`,
        body: patchBody(active),
      })),
  },
  {
    key: 'page-5001',
    label: 'GET /Users?startIndex=5001&count=100',
    target: 100,
    requests: () => [{ method: 'GET', path: `${SCIM_BASE_PATH}/Users?startIndex=5001&count=100` }],
  },
  {
    key: 'group-member-add',
    label: `PATCH /Groups/{id} add one member to a group of ${fmt(members)} (then remove it)`,
    target: 20,
    requests: (ids) =>
      (['add', 'remove'] as const).map((op) => ({
        method: 'PATCH' as const,
        path: `${SCIM_BASE_PATH}/Groups/${ids.group}`,
        body: memberPatch(op, ids.member),
      })),
  },
];

interface Measurement {
  scenario: string;
  server: ServerKey;
  /** `autocannon`, or `single request` when the probe took over PROBE_LIMIT_MS. */
  method: 'autocannon' | 'single request';
  probeMs: number;
  reqPerSec: number;
  latencyP50: number;
  latencyP99: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  warmupNon2xx: number;
  warmupErrors: number;
  serverCpuPercent: number | undefined;
  otherCpuPercent: number | undefined;
  stealPercent: number | undefined;
}

function run(port: number, seconds: number, requests: autocannon.Request[]): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
        headers: HEADERS,
        requests,
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) reject(error);
        else resolve(result);
      },
    );
    // autocannon stops itself after `duration`; this only bounds a hang.
    const guard = setTimeout(() => instance.stop(), (seconds + 30) * 1000);
  });
}

/** One request as autocannon would send it, timed; throws on a non-2xx answer. */
async function probe(port: number, request: autocannon.Request): Promise<number> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${request.path}`, {
    method: request.method ?? 'GET',
    headers: HEADERS,
    ...(request.body !== undefined && { body: request.body as string }),
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  await response.arrayBuffer();
  const ms = performance.now() - started;
  if (!response.ok) throw new Error(`${request.method} ${request.path} answered ${response.status}`);
  return ms;
}

/** The id of the one resource a filter finds, read through the server itself (which also checks that seeding worked). */
async function lookupId(port: number, endpoint: 'Users' | 'Groups', filter: string): Promise<string> {
  const url = `http://127.0.0.1:${port}${SCIM_BASE_PATH}/${endpoint}?filter=${encodeURIComponent(filter)}&excludedAttributes=members`;
  const response = await fetch(url, { headers: HEADERS, signal: AbortSignal.timeout(60_000) });
  const body = (await response.json()) as { Resources?: { id?: string }[] };
  const id = body.Resources?.[0]?.id;
  if (!response.ok || !id) throw new Error(`${endpoint}?filter=${filter} answered ${response.status}`);
  return id;
}

async function lookupIds(port: number): Promise<Ids> {
  return {
    user: await lookupId(port, 'Users', `userName eq "${lookupUserName}"`),
    group: await lookupId(port, 'Groups', `displayName eq "${BENCH_GROUP_NAME}"`),
    member: await lookupId(port, 'Users', `userName eq "${userNameOf(members + 1)}"`),
  };
}

/** totalResults of an unfiltered list: must be the seeded count. */
async function totalUsers(port: number): Promise<number> {
  const url = `http://127.0.0.1:${port}${SCIM_BASE_PATH}/Users?count=1`;
  const response = await fetch(url, { headers: HEADERS, signal: AbortSignal.timeout(60_000) });
  return ((await response.json()) as { totalResults: number }).totalResults;
}

async function main() {
  const budgetMs = (SCENARIOS.length * 2 * (warmupSeconds + durationSeconds + 40) + 2 * 240) * 1000;
  installExitHooks(budgetMs);
  const pinning = detectPinning();
  const clientCpu = pinning.available ? pinning.allowed[0] : undefined;
  const serverCpu = pinning.available ? pinning.allowed[pinning.allowed.length - 1] : undefined;
  if (clientCpu !== undefined && !pinProcess(process.pid, clientCpu))
    console.warn('  could not pin the load generator');

  console.log(
    `SCIM servers, ${fmt(users)} users each: ${connections} connections, ${warmupSeconds} s warm-up + ${durationSeconds} s per measurement`,
  );
  console.log(
    `  ${pinning.note}${pinning.available ? `; load generator on CPU ${clientCpu}, servers on CPU ${serverCpu}` : ''}`,
  );
  const loadBefore = (await import('node:os')).loadavg();
  console.log(`  load average before: ${loadBefore.map((l) => l.toFixed(2)).join(', ')}`);

  const servers = new Map<ServerKey, { server: Server; ids: Ids; seeded: number; startSeconds: number }>();
  const measurements: Measurement[] = [];
  const problems: string[] = [];
  try {
    // One at a time: seeding is CPU work, and both on the server CPU at once would only slow each.
    for (const s of SERVERS) {
      const started = performance.now();
      const [command, args] = pinnedCommand(serverCpu, process.execPath, ['--import', 'tsx', s.script]);
      const server = await startServer({
        name: s.key,
        command,
        args,
        cwd: benchDir,
        env: { ...process.env, PORT: '0', HOST: '127.0.0.1', SCIM_USERS: String(users) },
        timeoutMs: START_TIMEOUT_MS,
      });
      const startSeconds = (performance.now() - started) / 1000;
      const ids = await lookupIds(server.port);
      const seeded = await totalUsers(server.port);
      if (seeded !== users) problems.push(`${s.key}: totalResults ${seeded}, expected ${users}`);
      servers.set(s.key, { server, ids, seeded, startSeconds });
      console.log(`  ${s.key}: started and seeded in ${fmt(startSeconds, 1)} s, ${fmt(seeded)} users`);
    }

    for (const scenario of SCENARIOS) {
      console.log(`\n${scenario.label}`);
      for (const s of SERVERS) {
        const entry = servers.get(s.key);
        if (!entry) continue;
        const requests = scenario.requests(entry.ids);
        let probeMs: number;
        try {
          probeMs = await probe(entry.server.port, requests[0] as autocannon.Request);
        } catch (error) {
          problems.push(`${scenario.key} ${s.key}: probe failed: ${(error as Error).message}`);
          console.log(`  ${s.key.padEnd(7)} probe failed: ${(error as Error).message}`);
          continue;
        }
        if (probeMs > PROBE_LIMIT_MS) {
          const m: Measurement = {
            scenario: scenario.key,
            server: s.key,
            method: 'single request',
            probeMs,
            reqPerSec: 1000 / probeMs,
            latencyP50: Math.round(probeMs),
            latencyP99: Math.round(probeMs),
            requests: 1,
            non2xx: 0,
            errors: 0,
            timeouts: 0,
            warmupNon2xx: 0,
            warmupErrors: 0,
            serverCpuPercent: undefined,
            otherCpuPercent: undefined,
            stealPercent: undefined,
          };
          measurements.push(m);
          console.log(
            `  ${s.key.padEnd(7)} one request took ${fmt(probeMs)} ms (over ${PROBE_LIMIT_MS} ms: not loaded with autocannon); ` +
              `${fmt(m.reqPerSec, 2)} req/s at best`,
          );
          continue;
        }
        const warm = await run(entry.server.port, warmupSeconds, requests);
        const ticksBefore = systemTicks();
        const serverBefore = processCpuSeconds(entry.server.pid);
        const clientBefore = process.cpuUsage();
        const wallBefore = performance.now();
        const result = await run(entry.server.port, durationSeconds, requests);
        const wall = (performance.now() - wallBefore) / 1000;
        const client = process.cpuUsage(clientBefore);
        const serverAfter = processCpuSeconds(entry.server.pid);
        const serverSeconds =
          serverBefore === undefined || serverAfter === undefined ? undefined : serverAfter - serverBefore;
        const noise = machineLoad(
          ticksBefore,
          systemTicks(),
          wall,
          (client.user + client.system) / 1e6 + (serverSeconds ?? 0),
        );
        const m: Measurement = {
          scenario: scenario.key,
          server: s.key,
          method: 'autocannon',
          probeMs,
          reqPerSec: result.requests.average,
          latencyP50: result.latency.p50,
          latencyP99: result.latency.p99,
          requests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          warmupNon2xx: warm.non2xx,
          warmupErrors: warm.errors + warm.timeouts,
          serverCpuPercent: serverSeconds === undefined ? undefined : (100 * serverSeconds) / wall,
          otherCpuPercent: noise?.otherCpuPercent,
          stealPercent: noise?.stealPercent,
        };
        measurements.push(m);
        for (const [what, n] of [
          ['non-2xx', m.non2xx + m.warmupNon2xx],
          ['connection errors/timeouts', m.errors + m.timeouts + m.warmupErrors],
        ] as const)
          if (n > 0) problems.push(`${scenario.key} ${s.key}: ${n} ${what}`);
        console.log(
          `  ${s.key.padEnd(7)} ${fmt(m.reqPerSec).padStart(8)} req/s, p50 ${m.latencyP50} ms, p99 ${m.latencyP99} ms, ` +
            `non-2xx ${m.non2xx}, errors ${m.errors}, server CPU ${fmt(m.serverCpuPercent ?? Number.NaN)} %, ` +
            `other load ${fmt(m.otherCpuPercent ?? Number.NaN)} %`,
        );
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((entry) => entry.server.stop()));
  }

  const find = (scenario: string, server: ServerKey) =>
    measurements.find((m) => m.scenario === scenario && m.server === server);
  const rows = SCENARIOS.map((scenario) => {
    const ours = find(scenario.key, 'ours');
    const scimmy = find(scenario.key, 'scimmy');
    const ratio = ours && scimmy && scimmy.reqPerSec > 0 ? ours.reqPerSec / scimmy.reqPerSec : Number.NaN;
    return { scenario, ours, scimmy, ratio, met: Number.isFinite(ratio) && ratio >= scenario.target };
  });
  console.log(`\n${fmt(users)} users, ${durationSeconds} s each, ${connections} connections`);
  console.log(
    table(
      ['request', 'ours req/s', 'ours p50 ms', 'SCIMMY req/s', 'SCIMMY p50 ms', 'ours/SCIMMY', 'target', 'met'],
      rows.map((r) => [
        r.scenario.label,
        fmt(r.ours?.reqPerSec ?? Number.NaN),
        r.ours?.latencyP50 ?? 'n/a',
        `${fmt(r.scimmy?.reqPerSec ?? Number.NaN, r.scimmy && r.scimmy.reqPerSec < 10 ? 2 : 0)}${r.scimmy?.method === 'single request' ? ' *' : ''}`,
        r.scimmy?.latencyP50 ?? 'n/a',
        fmt(r.ratio, 1),
        `≥ ${r.scenario.target}`,
        r.met ? 'yes' : 'NO',
      ]),
    ),
  );
  if (measurements.some((m) => m.method === 'single request'))
    console.log(
      `* one request, timed alone (over ${PROBE_LIMIT_MS} ms, so not loaded with 32 connections): req/s is 1 / its time, p50 its time`,
    );
  const warnings = measurements
    .filter((m) => m.otherCpuPercent !== undefined && m.otherCpuPercent > 10)
    .map(
      (m) =>
        `${m.scenario} ${m.server}: other processes used ${fmt(m.otherCpuPercent ?? 0)} % of a CPU during the run; figures are disturbed`,
    );
  const loadAfter = (await import('node:os')).loadavg();
  console.log(`load average after: ${loadAfter.map((l) => l.toFixed(2)).join(', ')}`);
  for (const w of warnings) console.warn(`WARNING: ${w}`);
  for (const p of problems) console.error(`INVALID: ${p}`);

  const file = writeResults('scim', {
    quick,
    problems,
    warnings,
    settings: { users, groupMembers: members, connections, warmupSeconds, durationSeconds, lookupUserName },
    machine: {
      ...machine(pinning),
      loadGeneratorCpu: clientCpu ?? null,
      serverCpu: serverCpu ?? null,
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAfter,
    },
    servers: Object.fromEntries(
      SERVERS.map((s) => [
        s.key,
        { label: s.label, script: s.script, startAndSeedSeconds: servers.get(s.key)?.startSeconds ?? null },
      ]),
    ),
    summary: rows.map((r) => ({
      request: r.scenario.label,
      key: r.scenario.key,
      ours: r.ours && {
        method: r.ours.method,
        reqPerSec: r.ours.reqPerSec,
        latencyP50: r.ours.latencyP50,
        latencyP99: r.ours.latencyP99,
      },
      scimmy: r.scimmy && {
        method: r.scimmy.method,
        reqPerSec: r.scimmy.reqPerSec,
        latencyP50: r.scimmy.latencyP50,
        latencyP99: r.scimmy.latencyP99,
      },
      ratio: r.ratio,
      target: r.scenario.target,
      targetMet: r.met,
    })),
    measurements,
  });
  console.log(`results: ${file}`);
  if (problems.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
