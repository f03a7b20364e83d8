/**
 * Re-evaluating an organization after its rules changed: a plan first (read-only: who would gain
 * and lose what), the revocation guard, then the changes applied through the engine, a page of
 * users per event with a deterministic id, so a run that stopped is resumed by running it again.
 */
import { createHash } from 'node:crypto';
import type { DirectoryEvent, DirectoryGroup, DirectoryUser } from '../model.js';
import type { ProvisioningStore, UserAccess } from '../store/types.js';
import { formatNanos } from '../time.js';
import { diffAccess, evaluateAccess } from './evaluate.js';
import { type AccessRules, matchesGroupAttributes } from './rules.js';
import { accessSubject, readGroups } from './subject.js';

/** Users read, evaluated and (when applying) re-evaluated per event. */
export const REEVALUATE_PAGE = 500;
/** Changes a plan lists by default; the counts cover all of them. */
export const DEFAULT_MAX_LISTED = 1_000;

export interface ReevaluateOptions {
  /** Compute and return the plan; change nothing. */
  dryRun?: boolean;
  /** Apply even when the guard trips. */
  force?: boolean;
  /**
   * The deprovisioning guard's thresholds, applied to revocations: refuse when more users than
   * this share of the organization (default 0.2) or this count (default 100) would lose a role.
   * At least one user may always lose one.
   */
  guard?: { maxShare?: number; maxCount?: number };
  /** How many changes the plan lists (the counts cover all). Default 1,000, at most 100,000. */
  maxListed?: number;
  /** Called after each page of users, planned or applied. */
  onProgress?: (progress: { readonly scanned: number; readonly changed: number }) => void;
}

export interface PlannedAccessChange {
  readonly userId: string;
  readonly granted: readonly string[];
  readonly revoked: readonly string[];
}

export interface ReevaluatePlan {
  readonly organizationId: string;
  /** The rules' revision the plan was made under (0: rules from the app's function, or none stored). */
  readonly revision: number;
  /** Users of the mirror looked at. */
  readonly scanned: number;
  /** Users whose roles would change. */
  readonly changed: number;
  /** Users who would gain at least one role. */
  readonly gaining: number;
  /** Users who would lose at least one role (what the guard counts). */
  readonly losing: number;
  /** The first `maxListed` changes, in user id order. */
  readonly changes: readonly PlannedAccessChange[];
  /** Whether `changes` stops short of `changed`. */
  readonly truncated: boolean;
  /** `applied`: done; `planned`: a dry run; `refused`: the guard tripped and nothing was changed. */
  readonly status: 'applied' | 'planned' | 'refused';
  /** Why the guard tripped, for `refused`. */
  readonly reason?: string;
}

interface Page {
  readonly ids: string[];
}

/**
 * The groups a plan looks up by name or external id, each read once per run, those a page of users
 * needs in one read (`getGroups`, a chunk at a time), never one per membership.
 */
function groupReader(store: ProvisioningStore, organizationId: string) {
  const rows = new Map<string, DirectoryGroup | undefined>();
  return async (ids: readonly string[]) => {
    const missing = [...new Set(ids.filter((id) => !rows.has(id)))];
    if (missing.length > 0) {
      for (const [i, row] of (await readGroups(store, organizationId, missing)).entries()) {
        rows.set(missing[i] as string, row);
      }
    }
    return ids.map((id) => rows.get(id));
  };
}

/** The deterministic id of one page's event: the rules' revision and the users it names. */
export function reevaluationEventId(organizationId: string, revision: number, userIds: readonly string[]): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([organizationId, revision, userIds]))
    .digest('hex');
  return `access_r${revision}_${hash.slice(0, 32)}`;
}

/**
 * Plans (and unless `dryRun`, applies) the re-evaluation of every user of the organization. The
 * plan pages the mirror (`listUsers`) and the users' roles (`getUserAccess`), never loading the
 * whole organization; applying sends one `access.reevaluated` event per page of changed users.
 */
export async function reevaluateOrganization(args: {
  store: ProvisioningStore;
  organizationId: string;
  rules: AccessRules | null;
  revision: number;
  options: ReevaluateOptions;
  process: (event: DirectoryEvent) => Promise<{ status: string }>;
  clock: () => number;
}): Promise<ReevaluatePlan> {
  const { store, organizationId, rules, revision, options } = args;
  const maxListed = Math.min(Math.max(0, options.maxListed ?? DEFAULT_MAX_LISTED), 100_000);
  const group = groupReader(store, organizationId);
  const changes: PlannedAccessChange[] = [];
  const pages: Page[] = [];
  let scanned = 0;
  let changed = 0;
  let gaining = 0;
  let losing = 0;
  let after: string | undefined;
  for (;;) {
    const users = await store.listUsers(organizationId, {
      ...(after !== undefined && { after }),
      limit: REEVALUATE_PAGE,
    });
    if (users.length === 0) break;
    after = (users[users.length - 1] as DirectoryUser).id;
    const held = await store.getUserAccess(
      organizationId,
      users.map((u) => u.id),
    );
    // The page's groups in one read, before its users are evaluated one by one.
    if (rules !== null && matchesGroupAttributes(rules)) await group(users.flatMap((u) => u.groups.map((g) => g.id)));
    const page: string[] = [];
    for (const [i, user] of users.entries()) {
      const previous: UserAccess | undefined = held[i];
      const directory = rules === null ? [] : evaluateAccess(rules, await accessSubject(rules, user, group));
      const diff = diffAccess(previous, { directory, manual: previous?.manual ?? [] });
      const managedMoved = (previous?.directory ?? []).join('\u0000') !== directory.join('\u0000');
      if (managedMoved) page.push(user.id);
      if (!diff) continue;
      changed++;
      if (diff.granted.length > 0) gaining++;
      if (diff.revoked.length > 0) losing++;
      if (changes.length < maxListed) changes.push({ userId: user.id, granted: diff.granted, revoked: diff.revoked });
    }
    scanned += users.length;
    if (page.length > 0) pages.push({ ids: page });
    options.onProgress?.({ scanned, changed });
    if (users.length < REEVALUATE_PAGE) break;
  }
  const plan = {
    organizationId,
    revision,
    scanned,
    changed,
    gaining,
    losing,
    changes,
    truncated: changes.length < changed,
  };
  if (options.dryRun) return { ...plan, status: 'planned' };
  const maxShare = options.guard?.maxShare ?? 0.2;
  const maxCount = options.guard?.maxCount ?? 100;
  const allowed = Math.min(maxCount, Math.max(1, Math.floor(maxShare * scanned)));
  if (losing > allowed && !options.force) {
    return {
      ...plan,
      status: 'refused',
      reason: `The new rules would revoke roles from ${losing} of ${scanned} users, more than the ${allowed} allowed (maxShare ${maxShare}, maxCount ${maxCount}). Nothing was changed; check the rules with a dry run, then rerun with force to apply.`,
    };
  }
  const occurredAt = formatNanos(BigInt(args.clock()) * 1_000_000n);
  for (const page of pages) {
    const result = await args.process({
      type: 'access.reevaluated',
      id: reevaluationEventId(organizationId, revision, page.ids),
      organizationId,
      occurredAt,
      source: 'custom',
      sourceType: 'access.reevaluate',
      userIds: page.ids,
      rulesRevision: revision,
    });
    if (result.status === 'in_flight') {
      throw new Error(
        `Another worker is applying page ${page.ids[0]}… of this re-evaluation; run it again once it finishes.`,
      );
    }
  }
  return { ...plan, status: 'applied' };
}
