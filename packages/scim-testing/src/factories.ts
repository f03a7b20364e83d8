/**
 * Scalekit event factories: realistic `organization.directory*` payloads (SCALEKIT.md §2), stamped
 * with strictly increasing nanosecond timestamps so a test controls order by construction.
 */
import { randomBytes } from 'node:crypto';
import {
  formatNanos,
  type ScalekitDeletedUser,
  type ScalekitDirectory,
  type ScalekitDirectoryEvent,
  type ScalekitDirectoryGroup,
  type ScalekitDirectoryUser,
  type ScalekitOtherEvent,
} from '@org/scim-core';

type DirectoryEventOf<T extends ScalekitDirectoryEvent['type']> = Extract<ScalekitDirectoryEvent, { type: T }>;

export interface EventFactoryOptions {
  organizationId?: string;
  environmentId?: string;
  /** The first event's `occurred_at`. Default: now. */
  start?: Date;
  /** Nanoseconds between consecutive events. Default 1,000,123 (a millisecond and a bit, so sub-millisecond digits are exercised). */
  stepNanos?: bigint;
}

/** Per-user input: anything of Scalekit's user payload; `id` and `organization_id` are filled in. */
export type UserInput = Partial<ScalekitDirectoryUser> & { id: string };
export type GroupInput = Partial<ScalekitDirectoryGroup> & { id: string };

export interface EventOverrides {
  /** The event id; default a fresh `evt_…`. */
  id?: string;
  /** An explicit `occurred_at`, leaving the factory's clock alone. */
  occurredAt?: string;
}

let sequence = 0;
const runPrefix = BigInt(`0x${randomBytes(5).toString('hex')}`) * 1_000_000n;

/** A fresh, process-unique `evt_…` id in Scalekit's shape (digits). */
export function newEventId(): string {
  sequence += 1;
  return `evt_${runPrefix + BigInt(sequence)}`;
}

/** Creates event factories for one organization with their own clock. */
export function createEventFactory(options: EventFactoryOptions = {}) {
  const organizationId = options.organizationId ?? 'org_53879494091473415';
  const environmentId = options.environmentId ?? 'env_53814739859406915';
  const step = options.stepNanos ?? 1_000_123n;
  let clock = BigInt((options.start ?? new Date()).getTime()) * 1_000_000n;

  function envelope<T extends string, O extends string, D>(type: T, object: O, data: D, overrides: EventOverrides) {
    clock += step;
    return {
      spec_version: '1',
      id: overrides.id ?? newEventId(),
      type,
      occurred_at: overrides.occurredAt ?? formatNanos(clock),
      environment_id: environmentId,
      organization_id: organizationId,
      object,
      data,
    };
  }

  const user = (input: UserInput): ScalekitDirectoryUser => ({
    organization_id: organizationId,
    active: true,
    groups: [],
    roles: [],
    custom_attributes: {},
    raw_attributes: {},
    ...input,
  });
  const group = (input: GroupInput): ScalekitDirectoryGroup => ({
    organization_id: organizationId,
    directory_id: 'dir_12345',
    display_name: input.id,
    external_id: null,
    raw_attributes: {},
    ...input,
  });
  const directory = (input: Partial<ScalekitDirectory> & { id: string }, enabled: boolean): ScalekitDirectory => ({
    organization_id: organizationId,
    directory_type: 'SCIM',
    provider: 'OKTA',
    enabled,
    updated_at: formatNanos(clock),
    ...input,
  });

  return {
    organizationId,
    environmentId,
    /** Moves the clock forward without emitting an event. */
    advance(nanos: bigint): void {
      clock += nanos;
    },
    userCreated: (input: UserInput, o: EventOverrides = {}): DirectoryEventOf<'organization.directory.user_created'> =>
      envelope('organization.directory.user_created', 'DirectoryUser', user(input), o),
    userUpdated: (input: UserInput, o: EventOverrides = {}): DirectoryEventOf<'organization.directory.user_updated'> =>
      envelope('organization.directory.user_updated', 'DirectoryUser', user(input), o),
    userDeleted: (
      input: Partial<ScalekitDeletedUser> & { id: string },
      o: EventOverrides = {},
    ): DirectoryEventOf<'organization.directory.user_deleted'> =>
      envelope(
        'organization.directory.user_deleted',
        'DirectoryUser',
        { organization_id: organizationId, ...input },
        o,
      ),
    groupCreated: (
      input: GroupInput,
      o: EventOverrides = {},
    ): DirectoryEventOf<'organization.directory.group_created'> =>
      envelope('organization.directory.group_created', 'DirectoryGroup', group(input), o),
    groupUpdated: (
      input: GroupInput,
      o: EventOverrides = {},
    ): DirectoryEventOf<'organization.directory.group_updated'> =>
      envelope('organization.directory.group_updated', 'DirectoryGroup', group(input), o),
    groupDeleted: (
      input: GroupInput,
      o: EventOverrides = {},
    ): DirectoryEventOf<'organization.directory.group_deleted'> => {
      // Scalekit's group_deleted shows `dp_id` where the other group events show `external_id`.
      const { external_id, ...rest } = group(input);
      return envelope('organization.directory.group_deleted', 'DirectoryGroup', { ...rest, dp_id: external_id }, o);
    },
    directoryEnabled: (
      input: Partial<ScalekitDirectory> & { id: string },
      o: EventOverrides = {},
    ): DirectoryEventOf<'organization.directory_enabled'> =>
      envelope('organization.directory_enabled', 'Directory', directory(input, true), o),
    directoryDisabled: (
      input: Partial<ScalekitDirectory> & { id: string },
      o: EventOverrides = {},
    ): DirectoryEventOf<'organization.directory_disabled'> =>
      envelope('organization.directory_disabled', 'Directory', directory(input, false), o),
    /** Any non-directory type, e.g. `organization.created` or `role.updated`. */
    other: (type: string, data: unknown, object = 'Organization', o: EventOverrides = {}): ScalekitOtherEvent =>
      envelope(type, object, data, o),
  };
}

export type EventFactory = ReturnType<typeof createEventFactory>;
