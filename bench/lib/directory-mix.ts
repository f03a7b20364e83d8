/**
 * A directory's event stream for the store benchmark, normalized up front (parsing is not what is
 * measured) and labelled with what each event is for the engine, since the round trips it costs
 * depend on it:
 *
 * | kind | what |
 * |---|---|
 * | user upsert, no groups | a user created or changed whose snapshot lists no group |
 * | user upsert, joins groups | a user created into groups, or changed to join at least one new group |
 * | user upsert, groups unchanged | a profile change of a user in groups, the same groups |
 * | user delete | |
 * | group upsert | a group created or renamed |
 * | group delete | a group with its members (each loses the membership) |
 *
 * Labels come from simulating the directory in order, so they hold when the stream is applied in
 * order. `staleCopies` adds events the engine must skip: copies of upserts under new ids, one
 * nanosecond older than the event they copy, hence older than their resource's version.
 */
import {
  formatNanos,
  type IncomingEvent,
  normalizeScalekitEvent,
  parseRfc3339Nanos,
  parseScalekitEvent,
} from '@org/scim-core';
import { createEventFactory, seededRandom } from '@org/scim-testing';

export const KINDS = [
  'user upsert, no groups',
  'user upsert, joins groups',
  'user upsert, groups unchanged',
  'user delete',
  'group upsert',
  'group delete',
] as const;
export type Kind = (typeof KINDS)[number];

export interface LabelledEvent {
  event: IncomingEvent;
  kind: Kind;
}

const TITLES = ['Engineer', 'Senior Engineer', 'Staff Engineer', 'Manager', 'Director', 'Designer', 'Analyst'];

function normalize(raw: unknown): IncomingEvent {
  const parsed = parseScalekitEvent(raw);
  if (!parsed.success) throw new Error(`generated event fails the schema: ${JSON.stringify(parsed.issues)}`);
  return normalizeScalekitEvent(parsed.value);
}

interface SimUser {
  id: string;
  n: number;
  title: string;
  groups: Set<string>;
}

/** `count` events in order: users and groups of one organization, a realistic mix (see the header). */
export function directoryMix(options: { count: number; seed?: number; organizationId?: string }): LabelledEvent[] {
  const random = seededRandom(options.seed ?? 1);
  const factory = createEventFactory({ organizationId: options.organizationId ?? 'org_bench_postgres' });
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const out: LabelledEvent[] = [];
  const groups = new Map<string, string>();
  const users = new Map<string, SimUser>();
  let nextUser = 0;
  let nextGroup = 0;

  const snapshot = (user: SimUser) => ({
    id: user.id,
    email: `user${user.n}@example.com`,
    preferred_username: `user${user.n}@example.com`,
    name: `User ${user.n}`,
    given_name: 'User',
    family_name: String(user.n),
    dp_id: `00u${user.n}`,
    title: user.title,
    department: 'Engineering',
    groups: [...user.groups].sort().map((id) => ({ id, name: groups.get(id) ?? id })),
    roles: [{ role_name: 'member' }],
  });
  const createGroup = () => {
    const id = `dirgroup_bench_${String(nextGroup++).padStart(4, '0')}`;
    groups.set(id, `Team ${nextGroup}`);
    out.push({
      event: normalize(factory.groupCreated({ id, display_name: `Team ${nextGroup}` })),
      kind: 'group upsert',
    });
  };
  const upsertUser = (user: SimUser, before: ReadonlySet<string> | undefined) => {
    const joins = [...user.groups].some((g) => !before?.has(g));
    const kind: Kind =
      user.groups.size === 0
        ? 'user upsert, no groups'
        : joins
          ? 'user upsert, joins groups'
          : 'user upsert, groups unchanged';
    const raw = before === undefined ? factory.userCreated(snapshot(user)) : factory.userUpdated(snapshot(user));
    out.push({ event: normalize(raw), kind });
  };

  for (let i = 0; i < 30; i++) createGroup();
  while (out.length < options.count) {
    const roll = random();
    const live = [...users.values()];
    if (live.length < 50 || roll < 0.3) {
      const user: SimUser = { id: `diruser_bench_${nextUser}`, n: nextUser++, title: pick(TITLES), groups: new Set() };
      if (random() < 0.5)
        for (let k = 1 + Math.floor(random() * 2); k > 0; k--) user.groups.add(pick([...groups.keys()]));
      users.set(user.id, user);
      upsertUser(user, undefined);
    } else if (roll < 0.62) {
      // A profile change: same groups.
      const user = pick(live);
      user.title = pick(TITLES.filter((t) => t !== user.title));
      upsertUser(user, new Set(user.groups));
    } else if (roll < 0.8) {
      // Joins a group it is not in (and leaves one, sometimes).
      const user = pick(live);
      const before = new Set(user.groups);
      const candidates = [...groups.keys()].filter((g) => !user.groups.has(g));
      if (candidates.length === 0) continue;
      if (user.groups.size > 0 && random() < 0.5) user.groups.delete(pick([...user.groups]));
      user.groups.add(pick(candidates));
      upsertUser(user, before);
    } else if (roll < 0.86) {
      const user = pick(live);
      users.delete(user.id);
      out.push({
        event: normalize(factory.userDeleted({ id: user.id, email: `user${user.n}@example.com` })),
        kind: 'user delete',
      });
    } else if (roll < 0.96) {
      if (random() < 0.3) {
        createGroup();
        continue;
      }
      const id = pick([...groups.keys()]);
      groups.set(id, `${groups.get(id)}′`);
      out.push({
        event: normalize(factory.groupUpdated({ id, display_name: groups.get(id) as string })),
        kind: 'group upsert',
      });
    } else {
      if (groups.size <= 20) continue;
      const id = pick([...groups.keys()]);
      const name = groups.get(id) as string;
      groups.delete(id);
      for (const user of users.values()) user.groups.delete(id);
      out.push({ event: normalize(factory.groupDeleted({ id, display_name: name })), kind: 'group delete' });
    }
  }
  return out.slice(0, options.count);
}

/** Older copies (new ids, one nanosecond before the original) of every `every`-th upsert. */
export function staleCopies(events: readonly LabelledEvent[], every = 5): LabelledEvent[] {
  const copies: LabelledEvent[] = [];
  events.forEach(({ event, kind }, i) => {
    if (i % every !== 0 || (event.type !== 'user.upserted' && event.type !== 'group.upserted')) return;
    const at = parseRfc3339Nanos(event.occurredAt);
    if (at === undefined) throw new Error(`bad occurredAt ${event.occurredAt}`);
    copies.push({ event: { ...event, id: `${event.id}_stale`, occurredAt: formatNanos(at - 1n) }, kind });
  });
  return copies;
}
