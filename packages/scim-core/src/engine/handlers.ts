/**
 * The app's side of the engine: one optional function per kind of change. Each receives the
 * normalized resource, what the mirror held before (`previous`), and the event that caused it.
 *
 * A handler that throws fails the whole event: nothing is recorded, the webhook answers 5xx, and
 * the redelivery runs every handler of that event again, so make handlers idempotent (upserts,
 * "set active = false" rather than "toggle").
 *
 * Arguments are read-only: `previous` comes from the store, which may hand out frozen objects.
 * Copy what you keep.
 */
import type { Directory, DirectoryEvent, DirectoryGroup, DirectoryUser, GroupRef, PassthroughEvent } from '../model.js';
import type { StoreOperations } from '../store/types.js';

/** Whatever a handler returns is ignored; a promise is awaited. So `({ user }) => users.createUser(user)` fits. */
type HandlerResult = unknown;

/** What every handler gets besides its resource. */
export interface HandlerContext {
  /** The event being applied. */
  readonly event: DirectoryEvent;
  /**
   * The store's transaction for this event. With a store that shares your database (PostgreSQL),
   * writes made through it commit together with the ledger entry, or not at all.
   */
  readonly tx: StoreOperations;
}

/** Fields of a user whose change is reported to `userUpdated` (memberships are reported separately). */
export type UserField = Exclude<keyof DirectoryUser, 'id' | 'organizationId' | 'groups'>;
export type GroupField = Exclude<keyof DirectoryGroup, 'id' | 'organizationId'>;

export interface UserCreated extends HandlerContext {
  readonly user: DirectoryUser;
}
export interface UserUpdated extends HandlerContext {
  readonly user: DirectoryUser;
  readonly previous: DirectoryUser;
  /** Which fields differ from `previous`, in a stable order. */
  readonly changed: readonly UserField[];
}
export interface UserDeactivated extends HandlerContext {
  /** The user as last known with `active: false`; after a deletion only the identifiers may be filled. */
  readonly user: DirectoryUser;
  /** `undefined` when the deletion is the first the mirror hears of this user. */
  readonly previous: DirectoryUser | undefined;
  /** `inactive`: the directory set `active` to false. `deleted`: the directory deleted the user. */
  readonly reason: 'inactive' | 'deleted';
}
export interface UserReactivated extends HandlerContext {
  readonly user: DirectoryUser;
  readonly previous: DirectoryUser;
}
export interface UserDeleted extends HandlerContext {
  readonly user: DirectoryUser;
  readonly previous: DirectoryUser | undefined;
}
export interface GroupCreated extends HandlerContext {
  readonly group: DirectoryGroup;
}
export interface GroupUpdated extends HandlerContext {
  readonly group: DirectoryGroup;
  readonly previous: DirectoryGroup;
  readonly changed: readonly GroupField[];
}
export interface GroupDeleted extends HandlerContext {
  readonly group: DirectoryGroup;
  readonly previous: DirectoryGroup | undefined;
}
export interface MembershipChanged extends HandlerContext {
  readonly organizationId: string;
  /** The member, as it stands after this event. */
  readonly user: DirectoryUser;
  /** The group as the user's snapshot names it (`id`, and `name` when the directory sent one). */
  readonly group: GroupRef;
}
/**
 * A user's effective app roles changed because the directory did (see `docs/roles.md`). Roles the
 * app assigned by hand (`manual`) are never revoked here; a role both manual and directory-granted
 * stays when the directory stops granting it.
 */
export interface AccessChanged extends HandlerContext {
  readonly organizationId: string;
  /** The user as it stands after this event (after a deletion, only the identifiers may be filled). */
  readonly user: DirectoryUser;
  /** Roles the user gains, sorted. */
  readonly granted: readonly string[];
  /** Roles the user loses, sorted: only directory-granted ones, never a manual one. */
  readonly revoked: readonly string[];
  /** Every role the user holds now, manual and directory-managed, sorted: set the app's roles to this. */
  readonly roles: readonly string[];
  /** Which roles the directory manages (the engine grants and revokes them). */
  readonly managed: readonly string[];
  /** Which roles the app assigned by hand (`engine.access.setManualRoles`). */
  readonly manual: readonly string[];
}
export interface DirectoryChanged extends HandlerContext {
  readonly directory: Directory;
}

/**
 * The functions the engine calls. All optional: a change with no handler is still recorded in
 * the mirror, so adding a handler later never replays old changes.
 *
 * Order within one event: created / reactivated / updated, then memberships, then access, then
 * deactivated.
 */
export interface ProvisioningHandlers {
  /** A user the mirror has not seen (or has seen deleted). May already be inactive. */
  userCreated?(change: UserCreated): HandlerResult;
  /**
   * Profile or role changes of a known user (`changed` includes `active` when it changed too). Not called
   * when only memberships or only `active` changed, except for a reactivation without `userReactivated`.
   */
  userUpdated?(change: UserUpdated): HandlerResult;
  /** `active` turned true again. Without this handler, reactivation reaches `userUpdated` with `active` in `changed`. */
  userReactivated?(change: UserReactivated): HandlerResult;
  /** `active` turned false, or the user was deleted and `hardDelete` is off. Deactivate; do not delete. */
  userDeactivated?(change: UserDeactivated): HandlerResult;
  /** The user was deleted and the engine runs with `hardDelete: true`. */
  userDeleted?(change: UserDeleted): HandlerResult;
  groupCreated?(change: GroupCreated): HandlerResult;
  groupUpdated?(change: GroupUpdated): HandlerResult;
  /** After `membershipRemoved` for each of its members. */
  groupDeleted?(change: GroupDeleted): HandlerResult;
  membershipAdded?(change: MembershipChanged): HandlerResult;
  membershipRemoved?(change: MembershipChanged): HandlerResult;
  /**
   * The user's effective app roles changed (rules of `engine.access`): called once per change, in
   * the same transaction, never when the roles stay the same.
   */
  accessChanged?(change: AccessChanged): HandlerResult;
  directoryEnabled?(change: DirectoryChanged): HandlerResult;
  directoryDisabled?(change: DirectoryChanged): HandlerResult;
  /** Any event type the engine does not interpret (`organization.created`, `role.*`, …). Deduplicated, not ordered. */
  otherEvent?(event: PassthroughEvent): HandlerResult;
}

export type HandlerName = keyof ProvisioningHandlers;
