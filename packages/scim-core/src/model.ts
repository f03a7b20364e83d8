/**
 * The normalized model every ingress maps into: Scalekit webhooks, the Directory API and the
 * SCIM 2.0 server all produce `DirectoryEvent`s carrying `DirectoryUser`s and `DirectoryGroup`s.
 *
 * Optional fields are omitted rather than `null`, lists are sorted, so two snapshots of the same
 * state are deep-equal whichever path delivered them.
 */
import { z } from 'zod';
import { isRfc3339 } from './time.js';

/**
 * Which ingress provisioned a resource: `scalekit` (Scalekit's webhooks and its Directory API,
 * reconciliation included), `scim` (the SCIM server, Okta or Entra provisioning the app directly),
 * or `custom` (events the app built itself). The engine stamps it from the event's source on every
 * write of the mirror, so a reconciliation of the Scalekit directory sweeps only what Scalekit
 * provisioned, never the users an identity provider pushed over SCIM into the same organization.
 */
export const originSchema = z.enum(['scalekit', 'scim', 'custom']);

export const groupRefSchema = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
});

export const directoryUserSchema = z.object({
  /** The directory's id for the user (`diruser_…` for Scalekit, the SCIM resource id for direct SCIM). */
  id: z.string().min(1),
  organizationId: z.string().min(1),
  /** The identity provider's own id (Scalekit `dp_id`, SCIM `externalId`). */
  externalId: z.string().optional(),
  /** The IdP login name (Scalekit `preferred_username`, SCIM `userName`). */
  userName: z.string().optional(),
  email: z.string().optional(),
  active: z.boolean(),
  name: z.string().optional(),
  givenName: z.string().optional(),
  familyName: z.string().optional(),
  /** Current group memberships, sorted by id. */
  groups: z.array(groupRefSchema),
  /** Role names, sorted. */
  roles: z.array(z.string()),
  /** Other profile fields as the directory sent them (`department`, `title`, `employee_id`, …). */
  attributes: z.record(z.string(), z.unknown()),
  /** The directory's custom attributes, as sent. */
  customAttributes: z.record(z.string(), z.unknown()),
  /** Which ingress provisioned the user (stamped by the engine; absent on rows written before it was). */
  origin: originSchema.optional(),
});

/** The identifiers that a deletion carries. */
export const directoryUserRefSchema = directoryUserSchema.pick({
  id: true,
  organizationId: true,
  externalId: true,
  email: true,
});

export const directoryGroupSchema = z.object({
  /** The directory's id for the group (`dirgroup_…`, or the SCIM resource id). */
  id: z.string().min(1),
  organizationId: z.string().min(1),
  directoryId: z.string().optional(),
  displayName: z.string(),
  externalId: z.string().optional(),
  /** Which ingress provisioned the group (stamped by the engine; absent on rows written before it was). */
  origin: originSchema.optional(),
});

/** The group a membership change names: its identity only; the engine reads the rest from the mirror. */
const directoryGroupKeySchema = directoryGroupSchema.pick({ id: true, organizationId: true });

export const directorySchema = z.object({
  id: z.string().min(1),
  organizationId: z.string().min(1),
  type: z.string().optional(),
  provider: z.string().optional(),
  enabled: z.boolean(),
});

export const eventSourceSchema = z.enum(['scalekit', 'reconciliation', 'scim', 'custom']);

const eventBase = {
  /** Dedupe key: Scalekit's `evt_…`, or a deterministic id for SCIM requests and reconciliation. */
  id: z.string().min(1),
  organizationId: z.string().min(1),
  /**
   * The Scalekit environment that sent it (`environment_id`), where the source has one. With the
   * organization and the id it keys the ledger (`eventKey`): ids are unique only within it.
   */
  environmentId: z.string().min(1).optional(),
  /** When the change happened, RFC 3339 with up to nanosecond precision; decides ordering. */
  occurredAt: z.string().refine(isRfc3339, 'expected an RFC 3339 date-time'),
  source: eventSourceSchema,
  /** The type as the source named it (`organization.directory.user_updated`, `PATCH /Users`, …). */
  sourceType: z.string(),
};

export const directoryEventSchema = z.discriminatedUnion('type', [
  z.object({ ...eventBase, type: z.literal('user.upserted'), user: directoryUserSchema }),
  z.object({ ...eventBase, type: z.literal('user.deleted'), user: directoryUserRefSchema }),
  z.object({ ...eventBase, type: z.literal('group.upserted'), group: directoryGroupSchema }),
  z.object({ ...eventBase, type: z.literal('group.deleted'), group: directoryGroupSchema }),
  /**
   * Members joining and leaving one group, as a SCIM `PATCH /Groups/{id}` sends them (Entra one per
   * request, Okta up to 256): a delta, so its cost follows the users it names, never the group's
   * size. The lists hold user ids and are disjoint. Every added id must be a user of the mirror, or
   * the event fails (`EngineError` `unknown_members`) with nothing written. Adding a member already
   * in, or removing one not in, changes nothing. Ordered by the group's version, like a
   * `group.upserted`.
   */
  z.object({
    ...eventBase,
    type: z.literal('group.members_changed'),
    group: directoryGroupKeySchema,
    added: z.array(z.string().min(1)),
    removed: z.array(z.string().min(1)),
  }),
  /**
   * Re-evaluates the app roles of these users under the organization's current access rules (a
   * page of `engine.access.reevaluate` after the rules changed): no directory change, so no
   * version; `accessChanged` for each user whose roles change. Its id is deterministic (the rules'
   * revision and the users), so a resumed run skips the pages already applied.
   */
  z.object({
    ...eventBase,
    type: z.literal('access.reevaluated'),
    userIds: z.array(z.string().min(1)).max(1_000),
    rulesRevision: z.number().int().nonnegative(),
  }),
  z.object({ ...eventBase, type: z.literal('directory.enabled'), directory: directorySchema }),
  z.object({ ...eventBase, type: z.literal('directory.disabled'), directory: directorySchema }),
]);

export type GroupRef = z.infer<typeof groupRefSchema>;
export type DirectoryUser = z.infer<typeof directoryUserSchema>;
export type DirectoryUserRef = z.infer<typeof directoryUserRefSchema>;
export type DirectoryGroup = z.infer<typeof directoryGroupSchema>;
export type Directory = z.infer<typeof directorySchema>;
export type EventSource = z.infer<typeof eventSourceSchema>;
export type Origin = z.infer<typeof originSchema>;
export type DirectoryEvent = z.infer<typeof directoryEventSchema>;
export type DirectoryEventType = DirectoryEvent['type'];

/** An event of a type the engine does not interpret; it is deduplicated and handed to the catch-all. */
export interface PassthroughEvent {
  readonly type: 'other';
  readonly id: string;
  readonly organizationId: string | undefined;
  /** As on `DirectoryEvent`: the Scalekit environment that sent it, where known. */
  readonly environmentId?: string;
  readonly occurredAt: string;
  readonly source: EventSource;
  readonly sourceType: string;
  readonly payload: unknown;
}

/** Anything the engine accepts. */
export type IncomingEvent = DirectoryEvent | PassthroughEvent;
