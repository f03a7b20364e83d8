/**
 * What the multi-process tests of the SQL store packages (`@org/scim-postgres`, `@org/scim-mysql`)
 * compare a store's final state with, shared so both hold their store to the same standard. Each
 * package's `test/fixtures/replay.ts` adds its ordered replay with its own app fixture.
 *
 * The reference: the same events, in order, one at a time, through `createEngine({ store:
 * memoryStore() })` with the same handlers. And the views of a final state that two runs must
 * agree on, whatever order their events arrived in.
 *
 * What must be equal, and why only that:
 *
 * - The mirror (users as delivered, groups, memberships) and every resource's version
 *   (`at`, `eventId`, `deleted`): the engine promises that any permutation of a stream ends in the
 *   state of the ordered stream. A resource's version is its newest event, whichever came first.
 * - The app's own tables, as its handlers left them: every group and membership, and every user's
 *   `active`; for users still in the mirror also their email and title. A deleted user is only
 *   compared on `active` (false): when its deletion overtakes its creation, `userDeactivated`
 *   gets only the identifiers the deletion carries, and the creation is then skipped as stale.
 * - The effects that the final state implies, the same in any order: a live user was created
 *   (`userCreated`), a deleted user deactivated (`userDeactivated`), a live group created, a
 *   deleted group deleted, every final membership added. They must be in the effects log.
 *
 * Not equal, legitimately: the effects log itself. Out of order, an older event is skipped as
 * stale, so a user created from its third snapshot gets one `userCreated` and no `userUpdated`;
 * a user first seen already inactive is created inactive, without `userDeactivated`; memberships
 * that came and went before the newest snapshot arrived are never added. What holds for the log
 * is per event: each event's effects were recorded once, by the one delivery that applied it.
 */
import {
  createEngine,
  type DirectoryGroup,
  type DirectoryUser,
  type HandlerName,
  memoryStore,
  normalizeScalekitEvent,
  type PageRequest,
  type ProvisioningHandlers,
  type ProvisioningStore,
  parseScalekitEvent,
  type ResourceRef,
  type ResourceVersion,
  type ScalekitDirectoryEvent,
  type StoreOperations,
} from '@org/scim-core';

/** One handler call: which event, which handler, on what (`userId`, `groupId` or `userId|groupId`). */
export interface Effect {
  eventId: string;
  handler: HandlerName;
  resource: string;
}

/** The test app's own tables, as its handlers left them. */
export interface AppTables {
  users: Map<string, { email: string | null; title: string | null; active: boolean }>;
  groups: Map<string, string>;
  /** `userId|groupId` */
  memberships: Set<string>;
}

/** An ordered replay's result: the memory store, and the app's tables and effects log. */
export interface Replay {
  store: ProvisioningStore;
  tables: AppTables;
  effects: Effect[];
}

/** Parses and normalizes a Scalekit event, as the webhook route does. */
export function normalize(event: ScalekitDirectoryEvent) {
  const parsed = parseScalekitEvent(event);
  if (!parsed.success) throw new Error(`invalid event ${event.id}: ${JSON.stringify(parsed.issues)}`);
  return normalizeScalekitEvent(parsed.value);
}

/** Applies `events` in order, one at a time, to a fresh memory store with `handlers`: every one must be applied (each is the newest for its resource when it comes). */
export async function replayInto(
  events: readonly ScalekitDirectoryEvent[],
  handlers: ProvisioningHandlers,
): Promise<ProvisioningStore> {
  const store = memoryStore();
  const engine = createEngine({ store, handlers });
  for (const event of events) {
    const result = await engine.process(normalize(event));
    if (result.status !== 'applied') throw new Error(`ordered replay: ${event.id} was ${result.status}`);
  }
  return store;
}

async function listAll<T extends { id: string }>(list: (page: PageRequest) => Promise<T[]>): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list(after === undefined ? { limit: 200 } : { after, limit: 200 });
    all.push(...page);
    if (page.length < 200) return all;
    after = page[page.length - 1]?.id;
  }
}

export interface MirrorSnapshot {
  users: Record<string, DirectoryUser>;
  groups: Record<string, DirectoryGroup>;
  /** Group id → member ids, for every group the stream mentions (deleted ones included: none). */
  members: Record<string, string[]>;
  /** `kind:id` → version, for every resource the stream mentions. */
  versions: Record<string, ResourceVersion | undefined>;
}

/** The mirror and versions, read through the store interface (so both stores are read the same way). */
export async function mirrorSnapshot(
  store: StoreOperations,
  organizationId: string,
  userIds: readonly string[],
  groupIds: readonly string[],
): Promise<MirrorSnapshot> {
  const users = await listAll((page) => store.listUsers(organizationId, page));
  const groups = await listAll((page) => store.listGroups(organizationId, page));
  const members: Record<string, string[]> = {};
  for (const id of groupIds) members[id] = [...(await store.listGroupMemberIds(organizationId, id))].sort();
  const refs: ResourceRef[] = [
    ...userIds.map((id) => ({ organizationId, kind: 'user' as const, id })),
    ...groupIds.map((id) => ({ organizationId, kind: 'group' as const, id })),
  ];
  const found = await store.getVersions(refs);
  const versions: Record<string, ResourceVersion | undefined> = {};
  refs.forEach((ref, i) => {
    const version = found[i];
    // Not `createdAt`: it is the first version a store accepted in the resource's life, so it
    // follows arrival order by design (see ResourceVersion); the ordering fields must match.
    versions[`${ref.kind}:${ref.id}`] = version && {
      at: version.at,
      eventId: version.eventId,
      deleted: version.deleted,
    };
  });
  return {
    users: Object.fromEntries(users.map((u) => [u.id, u])),
    groups: Object.fromEntries(groups.map((g) => [g.id, g])),
    members,
    versions,
  };
}

/** The app's tables as compared (see the header): deleted users only by `active`. */
export function appView(tables: AppTables, mirror: MirrorSnapshot) {
  const users: Record<string, { active: boolean; email?: string | null; title?: string | null }> = {};
  for (const [id, row] of [...tables.users].sort(([a], [b]) => (a < b ? -1 : 1))) {
    users[id] = id in mirror.users ? row : { active: row.active };
  }
  return {
    users,
    groups: Object.fromEntries([...tables.groups].sort(([a], [b]) => (a < b ? -1 : 1))),
    memberships: [...tables.memberships].sort(),
  };
}

/** Memberships in the mirror, as `userId|groupId`, from the users' snapshots. */
export function mirrorMemberships(mirror: MirrorSnapshot): string[] {
  return Object.values(mirror.users)
    .flatMap((user) => user.groups.map((group) => `${user.id}|${group.id}`))
    .sort();
}

/** The effects the final state implies (see the header), as `handler resource`, sorted. */
export function impliedEffects(mirror: MirrorSnapshot): string[] {
  const implied: string[] = [];
  for (const [key, version] of Object.entries(mirror.versions)) {
    if (!version) continue;
    const [kind, id] = key.split(':') as [string, string];
    if (kind === 'user') implied.push(version.deleted ? `userDeactivated ${id}` : `userCreated ${id}`);
    if (kind === 'group') implied.push(version.deleted ? `groupDeleted ${id}` : `groupCreated ${id}`);
  }
  for (const membership of mirrorMemberships(mirror)) implied.push(`membershipAdded ${membership}`);
  return implied.sort();
}

/**
 * For a failed comparison: each resource whose mirror state differs (a user, a group, its members,
 * a version), with every event of the stream that names it, in stream order, and how that event
 * was decided (`applied`, `stale`, and the handlers it ran; `?` when unknown). What took hours to
 * piece together from a kept database and the server's query log, in the failure message.
 */
export function explainMismatch(
  actual: MirrorSnapshot,
  expected: MirrorSnapshot,
  events: readonly ScalekitDirectoryEvent[],
  decided: ReadonlyMap<string, { outcome: string; handlers: readonly string[] }>,
): string {
  const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? String(v) : v));
  const differs = new Set<string>();
  for (const part of ['users', 'groups', 'members'] as const) {
    for (const id of new Set([...Object.keys(actual[part]), ...Object.keys(expected[part])])) {
      if (json(actual[part][id]) === json(expected[part][id])) continue;
      differs.add(id);
      // A membership in one and not the other: its user's events matter too.
      if (part === 'members') {
        const [have, want] = [actual.members[id] ?? [], expected.members[id] ?? []];
        for (const user of [...have, ...want]) if (!have.includes(user) || !want.includes(user)) differs.add(user);
      }
    }
  }
  for (const key of Object.keys(actual.versions)) {
    if (json(actual.versions[key]) !== json(expected.versions[key])) differs.add(key.slice(key.indexOf(':') + 1));
  }
  const lines: string[] = [];
  for (const id of [...differs].sort().slice(0, 10)) {
    lines.push(`${id}:`);
    events.forEach((event, i) => {
      const data = event.data as { id?: unknown; groups?: { id?: unknown }[] } | undefined;
      if (data?.id !== id && !(data?.groups ?? []).some((g) => g?.id === id)) return;
      const answer = decided.get(event.id);
      const how = answer ? `${answer.outcome} [${answer.handlers.join(', ')}]` : '?';
      const subject = data?.id === id ? '' : ` of ${String(data?.id)}`;
      lines.push(`  #${i} ${event.type}${subject} ${event.occurred_at} ${event.id}: ${how}`);
    });
  }
  return lines.join('\n');
}
