import { expect, it } from 'vitest';
import { memoryStore } from '../src/index.js';

it('forgets completed events after the ledger retention, and only those', async () => {
  const store = memoryStore({ ledgerRetentionMs: 60_000 });
  const T0 = 1_000_000;
  await store.claimEvent({ eventId: 'evt_old', now: T0, leaseMs: 1000 });
  await store.completeEvent('evt_old', 'applied', T0);
  await store.claimEvent({ eventId: 'evt_in_flight', now: T0, leaseMs: 10_000_000 });
  // Pruning is amortised over 1,024 completions; these happen after the retention has passed.
  for (let i = 0; i < 1024; i++) {
    await store.claimEvent({ eventId: `evt_${i}`, now: T0 + 120_000, leaseMs: 1000 });
    await store.completeEvent(`evt_${i}`, 'applied', T0 + 120_000);
  }
  expect(await store.claimEvent({ eventId: 'evt_old', now: T0 + 120_001, leaseMs: 1000 })).toEqual({
    status: 'claimed',
  });
  expect(await store.claimEvent({ eventId: 'evt_0', now: T0 + 120_001, leaseMs: 1000 })).toEqual({
    status: 'done',
    outcome: 'applied',
  });
  expect(await store.claimEvent({ eventId: 'evt_in_flight', now: T0 + 120_001, leaseMs: 1000 })).toMatchObject({
    status: 'busy',
  });
});
