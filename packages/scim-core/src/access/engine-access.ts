/**
 * The engine's side of access: where an organization's rules come from (the app's function, or
 * the store through a per-process cache), and the one step every trigger runs inside its
 * transaction: evaluate the user, compare with what the store holds, write, report.
 */
import { EngineError } from '../engine/errors.js';
import type { DirectoryGroup, DirectoryUser } from '../model.js';
import type { ProvisioningStore, StoreOperations, UserAccess, UserAccessWrite } from '../store/types.js';
import { type AccessDiff, diffAccess, evaluateAccess, sameAccess } from './evaluate.js';
import {
  type AccessRules,
  AccessRulesError,
  type AccessRulesInput,
  matchesGroupAttributes,
  parseAccessRules,
} from './rules.js';
import { accessSubject, readGroups } from './subject.js';

/**
 * Rule sets `options.access.rules` returned before, by identity, as validated: a function that
 * answers the same object on every event (a mapping read once at start) costs one validation, not
 * one per event (500 rules are about 2 ms of zod each time).
 */
const validated = new WeakMap<object, AccessRules>();

/** Validates rules the engine did not write itself; invalid ones fail the event (retryable) with a message that names the organization. */
function rulesOf(organizationId: string, input: unknown, from: string): AccessRules {
  const known = typeof input === 'object' && input !== null ? validated.get(input) : undefined;
  if (known) return known;
  try {
    const rules = parseAccessRules(input);
    if (typeof input === 'object' && input !== null) validated.set(input, rules);
    return rules;
  } catch (error) {
    if (!(error instanceof AccessRulesError)) throw error;
    throw new EngineError(
      'invalid_access_rules',
      `The access rules of organization ${JSON.stringify(organizationId)} from ${from} are invalid: ${error.message}`,
      { cause: error },
    );
  }
}

export interface AccessOptions {
  /**
   * The rules of an organization, when the app keeps them itself (a JSON file, its own table):
   * called once per event of that organization, synchronously or with a promise; `undefined` means
   * none (no roles are managed there). Without it, the rules written with
   * `engine.access.putRules` (kept in the store) apply. An object it returned before is not
   * validated again: return a new object when the rules change, never the old one changed in place.
   */
  rules?: (organizationId: string) => AccessRulesInput | undefined | Promise<AccessRulesInput | undefined>;
  /**
   * How long this process trusts its copy of an organization's stored rules, in milliseconds.
   * A rule change made through this engine is seen at once here; another process sharing the
   * store sees it within this time. Default 5,000.
   */
  rulesCacheMs?: number;
}

export const DEFAULT_RULES_CACHE_MS = 5_000;

interface CachedRules {
  readonly rules: AccessRules | null;
  readonly revision: number;
  readonly loadedAt: number;
}

/** A user's access step: what the handler is told, or `undefined` when the effective roles stay. */
export type AccessStep = AccessDiff | undefined;

export class AccessControl {
  readonly #cache = new Map<string, CachedRules>();
  readonly #cacheMs: number;

  constructor(
    private readonly store: ProvisioningStore,
    private readonly options: AccessOptions,
  ) {
    this.#cacheMs = options.rulesCacheMs ?? DEFAULT_RULES_CACHE_MS;
  }

  /**
   * The organization's rules when known without I/O (`null`: none), `undefined` when they must be
   * loaded (`load`). With no cached entry the hot path costs one Map lookup.
   */
  peek(organizationId: string, now: number): AccessRules | null | undefined {
    if (this.options.rules) return undefined;
    const cached = this.#cache.get(organizationId);
    if (cached && now - cached.loadedAt < this.#cacheMs) return cached.rules;
    return undefined;
  }

  /** The organization's rules, from the app's function or the store (then cached). */
  async load(organizationId: string, now: number): Promise<AccessRules | null> {
    if (this.options.rules) {
      const input = await this.options.rules(organizationId);
      return input === undefined ? null : rulesOf(organizationId, input, 'options.access.rules');
    }
    return (await this.stored(organizationId, now)).rules;
  }

  /** The stored rules and their revision, refreshed from the store when the cached copy is old. */
  async stored(organizationId: string, now: number, fresh = false): Promise<CachedRules> {
    const cached = this.#cache.get(organizationId);
    if (!fresh && cached && now - cached.loadedAt < this.#cacheMs) return cached;
    const { rules, revision } = await this.store.getAccessRules(organizationId);
    const entry: CachedRules = {
      rules: rules === null ? null : rulesOf(organizationId, rules, 'the store'),
      revision,
      loadedAt: now,
    };
    this.#cache.set(organizationId, entry);
    return entry;
  }

  /** Remembers what this process just wrote. */
  remember(organizationId: string, rules: AccessRules | null, revision: number, now: number): void {
    this.#cache.set(organizationId, { rules, revision, loadedAt: now });
  }

  /** Forgets the organization's cached rules: the next event reads them again. */
  forget(organizationId: string): void {
    this.#cache.delete(organizationId);
  }
}

/**
 * Evaluates `user` under `rules` (or removes its directory grants: `rules` null, or the user
 * deleted), writes the new state through `tx` when it differs, and answers what the handler is
 * told. Roles the app assigned by hand are kept as they are. With `writes`, the write is added
 * there instead, for the caller to send a page of them at once (`writeAccess`).
 */
export async function stepAccess(
  tx: StoreOperations,
  rules: AccessRules | null,
  user: DirectoryUser,
  options: { deleted?: boolean; previous?: UserAccess | null; writes?: UserAccessWrite[]; groups?: GroupReader } = {},
): Promise<AccessStep> {
  const { organizationId, id } = user;
  const previous =
    options.previous === undefined
      ? (await tx.getUserAccess(organizationId, [id]))[0]
      : (options.previous ?? undefined);
  const directory =
    rules === null || options.deleted
      ? []
      : evaluateAccess(
          rules,
          await accessSubject(rules, user, options.groups ?? ((ids) => readGroups(tx, organizationId, ids))),
        );
  const next: UserAccess = { directory, manual: previous?.manual ?? [] };
  if (sameAccess(previous, next)) return undefined;
  const access = next.directory.length + next.manual.length === 0 ? undefined : next;
  if (options.writes) options.writes.push({ userId: id, access });
  else await tx.putUserAccess(organizationId, id, access);
  return diffAccess(previous, next);
}

/** Group rows by id, in the order asked. */
export type GroupReader = (ids: readonly string[]) => Promise<readonly (DirectoryGroup | undefined)[]>;

/** Distinct groups a page of users has read at once; beyond it, each user reads its own. */
export const PAGE_GROUPS_LIMIT = 10_000;

/**
 * For a page of users about to be evaluated one by one: the groups of all of them in one read
 * (chunked), when the rules look at group rows at all and the page's groups are not too many. A
 * group asked for later (one a user just joined) is read then, and kept for the rest of the page.
 */
export async function pageGroupReader(
  tx: StoreOperations,
  rules: AccessRules | null,
  organizationId: string,
  users: readonly (DirectoryUser | undefined)[],
): Promise<GroupReader | undefined> {
  if (rules === null || !matchesGroupAttributes(rules)) return undefined;
  const ids = new Set<string>();
  for (const user of users) for (const group of user?.groups ?? []) ids.add(group.id);
  if (ids.size > PAGE_GROUPS_LIMIT) return undefined;
  const byId = new Map<string, DirectoryGroup | undefined>();
  const read = async (list: readonly string[]) => {
    const rows = await readGroups(tx, organizationId, list);
    for (const [i, id] of list.entries()) byId.set(id, rows[i]);
  };
  await read([...ids]);
  return async (wanted) => {
    const missing = [...new Set(wanted.filter((id) => !byId.has(id)))];
    if (missing.length > 0) await read(missing);
    return wanted.map((id) => byId.get(id));
  };
}

/**
 * The access steps of a page of users (each named once; locked by the caller): their stored roles
 * read at once, their groups read at once, and their writes sent at once by `flush`.
 */
export async function accessPage(
  tx: StoreOperations,
  rules: AccessRules | null,
  organizationId: string,
  users: readonly (DirectoryUser | undefined)[],
): Promise<{ step: (user: DirectoryUser) => Promise<AccessStep>; flush: () => Promise<void> }> {
  const ids = users.flatMap((user) => (user ? [user.id] : []));
  const rows = await tx.getUserAccess(organizationId, ids);
  const held = new Map(ids.map((id, i) => [id, rows[i]]));
  const groups = await pageGroupReader(tx, rules, organizationId, users);
  const writes: UserAccessWrite[] = [];
  return {
    step: (user) =>
      stepAccess(tx, rules, user, { previous: held.get(user.id) ?? null, writes, ...(groups && { groups }) }),
    flush: () => writeAccess(tx, organizationId, writes),
  };
}

/**
 * Sends what `stepAccess` collected (each user once): `putUserAccessBatch` when the store has it,
 * otherwise `putUserAccess` per user. Empties `writes`.
 */
export async function writeAccess(
  tx: StoreOperations,
  organizationId: string,
  writes: UserAccessWrite[],
): Promise<void> {
  const batch = writes.splice(0);
  if (batch.length === 0) return;
  if (tx.putUserAccessBatch) await tx.putUserAccessBatch(organizationId, batch);
  else for (const { userId, access } of batch) await tx.putUserAccess(organizationId, userId, access);
}
