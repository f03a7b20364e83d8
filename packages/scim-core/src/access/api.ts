/**
 * `engine.access`: what the app calls to read and write an organization's rules and to declare
 * the roles its own admins assigned by hand.
 */
import type { DirectoryEvent } from '../model.js';
import type { JsonValue, ProvisioningStore } from '../store/types.js';
import type { AccessControl } from './engine-access.js';
import { effectiveRoles, sortedRoles } from './evaluate.js';
import { type ReevaluateOptions, type ReevaluatePlan, reevaluateOrganization } from './reevaluate.js';
import { type AccessRules, type AccessRulesInput, parseAccessRules } from './rules.js';

/** A user's roles as the engine keeps them. */
export interface UserRoles {
  /** Every role the user holds, sorted. */
  readonly roles: readonly string[];
  /** Those the directory manages. */
  readonly managed: readonly string[];
  /** Those the app assigned by hand. */
  readonly manual: readonly string[];
}

export type PutRulesResult =
  /** Saved; `revision` is what the next write must expect. */
  | { readonly status: 'saved'; readonly revision: number }
  /** Someone else saved first: reload (`getRules`) and apply the edit again. */
  | { readonly status: 'conflict'; readonly revision: number };

export interface EngineAccess {
  /** The organization's stored rules (validated, defaults filled) and their revision, read from the store. */
  getRules(organizationId: string): Promise<{ readonly rules: AccessRules | null; readonly revision: number }>;
  /**
   * Validates and saves the organization's rules (`null` removes them), if the stored revision is
   * still `expectedRevision`. Throws `AccessRulesError` for an invalid rule set, writing nothing.
   * This process uses the new rules at once, others within `rulesCacheMs`. Users already
   * provisioned keep their roles until they are re-evaluated (an event about them, or a
   * re-evaluation of the organization).
   */
  putRules(organizationId: string, rules: AccessRulesInput | null, expectedRevision: number): Promise<PutRulesResult>;
  /**
   * Declares the roles the app's own admins gave this user by hand (replacing the previous list):
   * the directory never revokes them, and a directory-granted role the user also holds by hand
   * survives losing the grant. No handler is called (the app made the change). Answers the
   * user's roles after it. At most 20 roles, validated like rule roles.
   */
  setManualRoles(organizationId: string, userId: string, roles: readonly string[]): Promise<UserRoles>;
  /** A user's roles as the engine keeps them (all empty for a user it never granted any). */
  getUserRoles(organizationId: string, userId: string): Promise<UserRoles>;
  /**
   * Re-evaluates every user of the organization under its current rules, through the engine
   * (`accessChanged` for each change, in a transaction per page of users). With `dryRun`, only
   * answers the plan: who would gain and lose what. Refuses (`status: 'refused'`, nothing
   * changed) when more users would lose a role than the guard allows, unless `force`. Resumable:
   * run it again after a failure, and it picks up what is left (each page's event id is
   * deterministic, and users already re-evaluated no longer differ).
   */
  reevaluate(organizationId: string, options?: ReevaluateOptions): Promise<ReevaluatePlan>;
}

export function engineAccess({
  store,
  control,
  clock,
  process,
}: {
  store: ProvisioningStore;
  control: AccessControl;
  clock: () => number;
  process: (event: DirectoryEvent) => Promise<{ status: string }>;
}): EngineAccess {
  return {
    async getRules(organizationId) {
      const { rules, revision } = await control.stored(organizationId, clock(), true);
      return { rules, revision };
    },

    async putRules(organizationId, input, expectedRevision) {
      const rules = input === null ? null : parseAccessRules(input);
      const revision = await store.putAccessRules(organizationId, rules as JsonValue | null, expectedRevision);
      if (revision === undefined) {
        control.forget(organizationId);
        return { status: 'conflict', revision: (await store.getAccessRules(organizationId)).revision };
      }
      control.remember(organizationId, rules, revision, clock());
      return { status: 'saved', revision };
    },

    async setManualRoles(organizationId, userId, roles) {
      const manual = sortedRoles(parseAccessRules({ defaultRoles: [...roles] }).defaultRoles);
      return store.transaction([{ organizationId, kind: 'user', id: userId }], async (tx) => {
        const [previous] = await tx.getUserAccess(organizationId, [userId]);
        const directory = previous?.directory ?? [];
        const next = { directory, manual };
        await tx.putUserAccess(organizationId, userId, directory.length + manual.length === 0 ? undefined : next);
        return { roles: effectiveRoles(next), managed: directory, manual };
      });
    },

    async reevaluate(organizationId, options = {}) {
      const now = clock();
      // The rules as stored now, not as cached: this run must use the ones just written.
      const { revision } = await control.stored(organizationId, now, true);
      const rules = await control.load(organizationId, now);
      return reevaluateOrganization({ store, organizationId, rules, revision, options, process, clock });
    },

    async getUserRoles(organizationId, userId) {
      const [access] = await store.getUserAccess(organizationId, [userId]);
      return { roles: effectiveRoles(access), managed: access?.directory ?? [], manual: access?.manual ?? [] };
    },
  };
}
