/**
 * What the reconciliation tests share: the fake Scalekit on 127.0.0.1, the real SDK client talking
 * to it, an engine whose handlers record every call, and a store that counts its writes.
 */
import {
  createEngine,
  createReconciler,
  type HandlerName,
  memoryStore,
  type ProvisioningEngine,
  type ProvisioningHandlers,
  type ProvisioningStore,
  type Reconciler,
  type ReconcilerOptions,
  scalekitDirectorySource,
} from '@org/scim-core';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';

/** Store methods that change the ledger, versions or mirror (not reconciliation bookkeeping). */
const WRITES = [
  'claimEvent',
  'completeEvent',
  'releaseEvent',
  'advanceVersion',
  'putUser',
  'deleteUser',
  'putGroup',
  'deleteGroup',
  'claimEvents',
  'advanceVersions',
  'putUsers',
  'completeEvents',
] as const;

export interface CountingStore {
  store: ProvisioningStore;
  /**
   * Simulates the death of the process using the store: every call made from now until `thaw()`
   * never settles, so the run that made it never goes on (and never finishes its run).
   */
  freeze(): void;
  thaw(): void;
  /** Writes per method since the last `reset()`, inside transactions included. */
  writes: Record<string, number>;
  total(): number;
  reset(): void;
}

/** Wraps a store so every write to the ledger, versions or mirror is counted. */
export function countingStore(inner: ProvisioningStore = memoryStore()): CountingStore {
  const writes: Record<string, number> = {};
  let frozen = false;
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, key, receiver) {
        const value = Reflect.get(object, key, receiver);
        if (typeof value !== 'function') return value;
        if (frozen) return () => new Promise(() => {});
        if (key === 'transaction') {
          return (refs: never, fn: (tx: object) => Promise<unknown>, options?: never) =>
            (value as ProvisioningStore['transaction']).call(
              object,
              refs,
              (tx) => fn(wrap(tx)) as Promise<never>,
              options,
            );
        }
        if ((WRITES as readonly (string | symbol)[]).includes(key)) {
          return (...args: unknown[]) => {
            writes[key as string] = (writes[key as string] ?? 0) + 1;
            return value.apply(object, args);
          };
        }
        return value.bind(object);
      },
    });
  return {
    store: wrap(inner),
    writes,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
    },
    total: () => Object.values(writes).reduce((a, b) => a + b, 0),
    reset: () => {
      for (const key of Object.keys(writes)) delete writes[key];
    },
  };
}

export interface HandlerCall {
  name: HandlerName;
  id: string;
}

/** Handlers that record what they were called with, for every handler the engine has. */
export function recordingHandlers(): { handlers: ProvisioningHandlers; calls: HandlerCall[] } {
  const calls: HandlerCall[] = [];
  const record =
    (name: HandlerName) => (arg: { user?: { id: string }; group?: { id: string }; directory?: { id: string } }) => {
      const id =
        name === 'membershipAdded' || name === 'membershipRemoved'
          ? `${arg.user?.id}>${arg.group?.id}`
          : (arg.user?.id ?? arg.group?.id ?? arg.directory?.id ?? '');
      calls.push({ name, id });
    };
  const names: HandlerName[] = [
    'userCreated',
    'userUpdated',
    'userDeactivated',
    'userReactivated',
    'groupCreated',
    'groupUpdated',
    'groupDeleted',
    'membershipAdded',
    'membershipRemoved',
  ];
  const handlers = Object.fromEntries(names.map((name) => [name, record(name)])) as ProvisioningHandlers;
  return { handlers, calls };
}

export interface Harness {
  fake: FakeScalekit;
  client: ScalekitClient;
  organizationId: string;
  directoryId: string;
  counting: CountingStore;
  engine: ProvisioningEngine;
  reconciler: Reconciler;
  calls: HandlerCall[];
  /** A reconciler on the same engine with other options. */
  reconcilerWith(options: Partial<ReconcilerOptions>): Reconciler;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<ReconcilerOptions> = {}): Promise<Harness> {
  const fake = await startFakeScalekit();
  const organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
  const directoryId = fake.addDirectory(organizationId).id;
  const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
  const counting = countingStore();
  const { handlers, calls } = recordingHandlers();
  const engine = createEngine({ store: counting.store, handlers });
  const source = scalekitDirectorySource(client);
  const base: ReconcilerOptions = { engine, source, pageSize: 50, retry: { baseDelayMs: 5, maxDelayMs: 20 } };
  const reconcilerWith = (extra: Partial<ReconcilerOptions>) => createReconciler({ ...base, ...options, ...extra });
  return {
    fake,
    client,
    organizationId,
    directoryId,
    counting,
    engine,
    reconciler: reconcilerWith({}),
    calls,
    reconcilerWith,
    close: () => fake.close(),
  };
}

/** `n` users `diruser_<prefix><i>` with emails, in groups by `groupOf`. */
export function addUsers(
  h: Harness,
  n: number,
  { prefix = 'u', groupOf }: { prefix?: string; groupOf?: (i: number) => string[] } = {},
): string[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `diruser_${prefix}${String(i).padStart(4, '0')}`;
    h.fake.upsertUser(h.organizationId, {
      id,
      email: `${prefix}${i}@acme.test`,
      preferredUsername: `${prefix}${i}@acme.test`,
      givenName: 'User',
      familyName: `${prefix.toUpperCase()}${i}`,
      externalId: `okta-${prefix}${i}`,
      roles: i % 10 === 0 ? ['admin'] : ['member'],
      attributes: { department: i % 2 ? 'Engineering' : 'Sales' },
      ...(groupOf && { groups: groupOf(i) }),
    });
    return id;
  });
}
