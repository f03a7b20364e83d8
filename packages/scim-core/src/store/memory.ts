/**
 * `memoryStore()`: the embedded default. Everything lives in this process and is lost when it
 * exits, so it suits the demo, tests, and a single-instance app that re-reconciles on start.
 * Several app instances need a shared store (`@org/scim-postgres`).
 */
import type { DirectoryGroup, DirectoryUser } from '../model.js';
import { KeyedLock } from './keyed-lock.js';
import type {
  ClaimRequest,
  ClaimResult,
  EventOutcome,
  PageRequest,
  ProvisioningStore,
  ResourceRef,
  ResourceVersion,
  StoreOperations,
  UserLookup,
} from './types.js';
import { isNewerVersion, resourceKey } from './versions.js';

type LedgerEntry =
  | { state: 'claimed'; expiresAt: number }
  | { state: 'done'; outcome: EventOutcome; completedAt: number };

type Undo = () => void;

/** Rows of one organization, with ids kept sortable for keyset pagination. */
class Table<T extends { id: string }> {
  readonly rows = new Map<string, T>();
  #sorted: string[] | undefined;

  set(row: T): void {
    if (!this.rows.has(row.id)) this.#sorted = undefined;
    this.rows.set(row.id, row);
  }

  delete(id: string): void {
    if (this.rows.delete(id)) this.#sorted = undefined;
  }

  page({ after, limit }: PageRequest): T[] {
    this.#sorted ??= [...this.rows.keys()].sort();
    const ids = this.#sorted;
    let start = 0;
    if (after !== undefined) {
      // First id strictly greater than `after`.
      let hi = ids.length;
      while (start < hi) {
        const mid = (start + hi) >>> 1;
        if ((ids[mid] as string) <= after) start = mid + 1;
        else hi = mid;
      }
    }
    return ids.slice(start, start + limit).map((id) => this.rows.get(id) as T);
  }
}

const lower = (value: string) => value.toLowerCase();

/** The data, with every write returning how to undo it. */
class MemoryState {
  readonly ledger = new Map<string, LedgerEntry>();
  readonly versions = new Map<string, ResourceVersion>();
  readonly users = new Map<string, Table<DirectoryUser>>();
  readonly groups = new Map<string, Table<DirectoryGroup>>();
  /** `${org}\0${groupId}` → member user ids. */
  readonly members = new Map<string, Set<string>>();
  /** `${org}\0${field}\0${value}` → user id, for `findUser`. */
  readonly userIndex = new Map<string, string>();

  static table<T extends { id: string }>(tables: Map<string, Table<T>>, organizationId: string): Table<T> {
    let table = tables.get(organizationId);
    if (!table) {
      table = new Table<T>();
      tables.set(organizationId, table);
    }
    return table;
  }

  setLedger(eventId: string, entry: LedgerEntry | undefined): Undo {
    const before = this.ledger.get(eventId);
    if (entry) this.ledger.set(eventId, entry);
    else this.ledger.delete(eventId);
    return () => {
      if (before) this.ledger.set(eventId, before);
      else this.ledger.delete(eventId);
    };
  }

  setVersion(key: string, version: ResourceVersion): Undo {
    const before = this.versions.get(key);
    this.versions.set(key, version);
    return () => {
      if (before) this.versions.set(key, before);
      else this.versions.delete(key);
    };
  }

  #indexKeys(user: DirectoryUser): string[] {
    const keys: string[] = [];
    const org = user.organizationId;
    if (user.externalId !== undefined) keys.push(`${org}\u0000externalId\u0000${user.externalId}`);
    if (user.userName !== undefined) keys.push(`${org}\u0000userName\u0000${lower(user.userName)}`);
    if (user.email !== undefined) keys.push(`${org}\u0000email\u0000${lower(user.email)}`);
    return keys;
  }

  #unlinkUser(user: DirectoryUser): void {
    for (const key of this.#indexKeys(user)) if (this.userIndex.get(key) === user.id) this.userIndex.delete(key);
    for (const group of user.groups) {
      const key = `${user.organizationId}\u0000${group.id}`;
      const set = this.members.get(key);
      set?.delete(user.id);
      if (set?.size === 0) this.members.delete(key);
    }
  }

  #linkUser(user: DirectoryUser): void {
    for (const key of this.#indexKeys(user)) this.userIndex.set(key, user.id);
    for (const group of user.groups) {
      const key = `${user.organizationId}\u0000${group.id}`;
      let set = this.members.get(key);
      if (!set) {
        set = new Set();
        this.members.set(key, set);
      }
      set.add(user.id);
    }
  }

  putUser(user: DirectoryUser): Undo {
    const table = MemoryState.table(this.users, user.organizationId);
    const before = table.rows.get(user.id);
    if (before) this.#unlinkUser(before);
    table.set(user);
    this.#linkUser(user);
    return before ? () => this.putUser(before) : () => this.deleteUser(user.organizationId, user.id);
  }

  deleteUser(organizationId: string, id: string): Undo {
    const table = MemoryState.table(this.users, organizationId);
    const before = table.rows.get(id);
    if (!before) return () => {};
    this.#unlinkUser(before);
    table.delete(id);
    return () => this.putUser(before);
  }

  putGroup(group: DirectoryGroup): Undo {
    const table = MemoryState.table(this.groups, group.organizationId);
    const before = table.rows.get(group.id);
    table.set(group);
    return () => {
      if (before) table.set(before);
      else table.delete(group.id);
    };
  }

  deleteGroup(organizationId: string, id: string): Undo {
    const table = MemoryState.table(this.groups, organizationId);
    const before = table.rows.get(id);
    table.delete(id);
    return () => {
      if (before) table.set(before);
    };
  }
}

/** Stored objects are copies, so a caller mutating what it passed in or got back cannot corrupt the store. */
const copy = <T>(value: T): T => structuredClone(value);

function operations(state: MemoryState, record: (undo: Undo) => void): StoreOperations {
  return {
    async claimEvent({ eventId, now, leaseMs }: ClaimRequest): Promise<ClaimResult> {
      const entry = state.ledger.get(eventId);
      if (entry?.state === 'done') return { status: 'done', outcome: entry.outcome };
      if (entry?.state === 'claimed' && entry.expiresAt > now)
        return { status: 'busy', leaseExpiresAt: entry.expiresAt };
      record(state.setLedger(eventId, { state: 'claimed', expiresAt: now + leaseMs }));
      return { status: 'claimed' };
    },
    async completeEvent(eventId, outcome, now) {
      record(state.setLedger(eventId, { state: 'done', outcome, completedAt: now }));
    },
    async releaseEvent(eventId) {
      if (state.ledger.get(eventId)?.state === 'claimed') record(state.setLedger(eventId, undefined));
    },

    async getVersions(refs: readonly ResourceRef[]) {
      return refs.map((ref) => state.versions.get(resourceKey(ref)));
    },
    async advanceVersion(ref, next) {
      const key = resourceKey(ref);
      if (!isNewerVersion(next, state.versions.get(key))) return false;
      record(state.setVersion(key, { ...next }));
      return true;
    },

    async getUser(organizationId, id) {
      const user = state.users.get(organizationId)?.rows.get(id);
      return user && copy(user);
    },
    async putUser(user) {
      record(state.putUser(copy(user)));
    },
    async deleteUser(organizationId, id) {
      record(state.deleteUser(organizationId, id));
    },
    async findUser(organizationId, lookup: UserLookup) {
      const [field, value] =
        'externalId' in lookup
          ? ['externalId', lookup.externalId]
          : 'userName' in lookup
            ? ['userName', lower(lookup.userName)]
            : ['email', lower(lookup.email)];
      const id = state.userIndex.get(`${organizationId}\u0000${field}\u0000${value}`);
      const user = id === undefined ? undefined : state.users.get(organizationId)?.rows.get(id);
      return user && copy(user);
    },
    async listUsers(organizationId, page) {
      return (state.users.get(organizationId)?.page(page) ?? []).map(copy);
    },

    async getGroup(organizationId, id) {
      const group = state.groups.get(organizationId)?.rows.get(id);
      return group && copy(group);
    },
    async putGroup(group) {
      record(state.putGroup(copy(group)));
    },
    async deleteGroup(organizationId, id) {
      record(state.deleteGroup(organizationId, id));
    },
    async listGroups(organizationId, page) {
      return (state.groups.get(organizationId)?.page(page) ?? []).map(copy);
    },
    async listGroupMemberIds(organizationId, groupId) {
      return [...(state.members.get(`${organizationId}\u0000${groupId}`) ?? [])].sort();
    },
  };
}

/**
 * The in-memory `ProvisioningStore`. Transactions lock their resources in this process and undo
 * their writes when they throw; reads from outside a transaction may see its writes before it
 * commits (a single process needs no more).
 */
export function memoryStore(): ProvisioningStore {
  const state = new MemoryState();
  const locks = new KeyedLock();
  const direct = operations(state, () => {});
  return {
    ...direct,
    async transaction(resources, fn) {
      const release = await locks.acquire(resources.map(resourceKey));
      const undo: Undo[] = [];
      try {
        return await fn(operations(state, (step) => undo.push(step)));
      } catch (error) {
        for (let i = undo.length - 1; i >= 0; i--) (undo[i] as Undo)();
        throw error;
      } finally {
        release();
      }
    },
  };
}
