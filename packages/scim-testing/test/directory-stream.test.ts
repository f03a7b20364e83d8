/**
 * `generateDirectoryStream` promises a stream a real directory could have sent: reproducible by
 * seed, in `occurred_at` order, with nothing said of a user after its deletion and no deleted group
 * in a later user snapshot. Checked over many seeds, since the stream is random by design.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDirectoryStream, seededRandom, shuffle } from '../src/index.js';

describe('generateDirectoryStream', () => {
  it('is the same for the same seed (but for fresh event ids), and apart for another', () => {
    const a = generateDirectoryStream({ count: 200, seed: 11 });
    const b = generateDirectoryStream({ count: 200, seed: 11 });
    const c = generateDirectoryStream({ count: 200, seed: 12 });
    const withoutIds = (s: typeof a) => ({ ...s, events: s.events.map(({ id: _id, ...rest }) => rest) });
    expect(withoutIds(b)).toEqual(withoutIds(a));
    // Fresh event ids: two streams from one seed never meet in a ledger as duplicates.
    expect(b.events.some((event, i) => event.id === a.events[i]?.id)).toBe(false);
    const idsOf = (s: typeof a) => new Set([...s.userIds, ...s.groupIds]);
    const shared = [...idsOf(a)].filter((id) => idsOf(c).has(id));
    expect(shared).toEqual([]);
  });

  it('reads like a directory: ordered, nothing after a deletion, counts as reported', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 400 }), (seed, count) => {
        const stream = generateDirectoryStream({ count, seed });
        // Six groups open every stream; after them, one event per step until `count`.
        expect(stream.events.length).toBe(Math.max(count, 6));
        const deletedUsers = new Set<string>();
        const deletedGroups = new Set<string>();
        const mix = new Map<string, number>();
        let previous = '';
        for (const event of stream.events) {
          expect(event.organization_id).toBe(stream.organizationId);
          // Same-length ISO timestamps with nanoseconds: string order is time order.
          expect(event.occurred_at > previous).toBe(true);
          previous = event.occurred_at;
          mix.set(event.type, (mix.get(event.type) ?? 0) + 1);
          const data = event.data as { id: string; groups?: { id: string }[] };
          if (event.type.includes('.user_')) {
            expect(deletedUsers.has(data.id)).toBe(false);
            for (const group of data.groups ?? []) expect(deletedGroups.has(group.id)).toBe(false);
            if (event.type.endsWith('user_deleted')) deletedUsers.add(data.id);
          } else if (event.type.endsWith('group_deleted')) {
            expect(deletedGroups.has(data.id)).toBe(false);
            deletedGroups.add(data.id);
          }
        }
        expect(new Map(Object.entries(stream.mix))).toEqual(mix);
      }),
      { numRuns: 60 },
    );
  });

  it('shuffles reproducibly, keeping every event', () => {
    const { events } = generateDirectoryStream({ count: 100, seed: 3 });
    const once = shuffle(events, seededRandom(9));
    expect(shuffle(events, seededRandom(9))).toEqual(once);
    expect(once).not.toEqual(events);
    expect([...once].sort((x, y) => (x.occurred_at < y.occurred_at ? -1 : 1))).toEqual(events);
  });
});
