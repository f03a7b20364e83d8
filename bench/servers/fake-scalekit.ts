/**
 * The fake Scalekit for the reconciliation benchmark, in its own process so its CPU and memory do
 * not count against the client being measured. Started by `reconcile.ts` with `child_process.fork`
 * (tsx), it seeds one organization's primary directory with BENCH_FAKE_USERS users and
 * BENCH_FAKE_GROUPS groups, sends `{ type: 'ready', url, clientId, … }`, then answers IPC messages:
 *
 *   { type: 'change', count, round } → upsertUser with a new familyName on `count` distinct seeded
 *                                      users, picked with a seeded PRNG; answers { type: 'changed', ids }
 *   { type: 'stats' }                → the fake's call counters and its RSS
 *   { type: 'stop' }                 → closes the server and exits
 *
 * It exits by itself when the parent goes away (the IPC channel closes).
 */
import { seededRandom } from '@org/scim-testing';
import { startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import type { FromFake, ToFake } from '../lib/reconcile-protocol.js';

const send = (message: FromFake) => process.send?.(message);

if (!process.send) {
  console.error('fake-scalekit: start me with child_process.fork (I answer IPC messages)');
  process.exit(1);
}

const users = Number(process.env.BENCH_FAKE_USERS ?? 100_000);
const groups = Number(process.env.BENCH_FAKE_GROUPS ?? 2_000);

async function main() {
  const fake = await startFakeScalekit();
  const organizationId = fake.addOrganization({ displayName: 'Bench Corp' }).id;
  const directoryId = fake.addDirectory(organizationId).id;
  const seedStart = performance.now();
  const { userIds } = fake.seed(organizationId, { users, groups });
  const seedMs = performance.now() - seedStart;
  const random = seededRandom(4);

  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
    const timer = setTimeout(() => process.exit(code), 2_000);
    timer.unref();
    await fake.close().catch(() => {});
    process.exit(code);
  };
  process.on('disconnect', () => void close(0));
  process.on('SIGTERM', () => void close(0));
  process.on('SIGINT', () => void close(0));

  process.on('message', (message: ToFake) => {
    try {
      if (message.type === 'change') {
        const count = Math.min(message.count, userIds.length);
        const picked = new Set<string>();
        // Bounded: distinct picks from a pool at least `count` large; the guard only catches a bad PRNG.
        for (let tries = 0; picked.size < count && tries < count * 1_000; tries++) {
          picked.add(userIds[Math.floor(random() * userIds.length)] as string);
        }
        const ids = [...picked];
        const stamps: bigint[] = [];
        ids.forEach((id, i) => {
          stamps.push(
            fake.upsertUser(organizationId, { id, familyName: `Changed-r${message.round}-${i}` }).updatedAtNanos,
          );
        });
        // The fake queues the webhook each change would send; nobody delivers them here.
        fake.webhooks.drop();
        send({
          type: 'changed',
          ids,
          firstStamp: String(stamps[0] ?? 0n),
          lastStamp: String(stamps[stamps.length - 1] ?? 0n),
        });
      } else if (message.type === 'stats') {
        const stats = fake.stats();
        send({
          type: 'stats',
          calls: stats.calls,
          pagesServed: stats.pagesServed,
          tokensIssued: stats.tokensIssued,
          rssBytes: process.memoryUsage.rss(),
        });
      } else if (message.type === 'stop') {
        void close(0);
      }
    } catch (error) {
      send({ type: 'error', message: (error as Error).stack ?? String(error) });
    }
  });

  send({
    type: 'ready',
    url: fake.url,
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    organizationId,
    directoryId,
    users: userIds.length,
    groups,
    seedMs,
  });
}

main().catch((error) => {
  send({ type: 'error', message: (error as Error).stack ?? String(error) });
  process.exit(1);
});
