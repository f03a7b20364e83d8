/**
 * An `EventLogSource` on Scalekit's Events API (`client.events.listEventsPaginated`, SDK 2.11+):
 * the same events its webhooks carry, newest first, turned back into the webhook's JSON so they go
 * through the same schema, normalization and ledger as a delivery.
 */
import { checkArgument, describeValue, type Report } from '../options.js';
import type { EventLogPage, EventLogRequest, EventLogSource } from './backfill.js';
import { listScalekitOrganizations, type ScalekitDirectoryClient, toDirectorySourceError } from './scalekit-source.js';
import type { SourceOrganization, SourcePage } from './source.js';

interface Timestamp {
  readonly seconds: bigint;
  readonly nanos: number;
}

/** What this source reads of a `ScalekitEvent` (`@scalekit-sdk/node`'s events_pb). */
export interface ScalekitLoggedEvent {
  readonly specVersion: string;
  readonly id: string;
  readonly type: string;
  readonly occurredAt?: Timestamp | undefined;
  readonly environmentId: string;
  readonly organizationId?: string | undefined;
  /** `google.protobuf.Struct`, which the SDK hands over as a JSON object. */
  readonly data?: unknown;
}

/** The calls this source makes: a `ScalekitClient` has them. */
export interface ScalekitEventsClient {
  events: {
    listEventsPaginated(
      pageSize?: number,
      pageToken?: string,
      filter?: {
        eventTypes?: string[];
        startTime?: Timestamp;
        endTime?: Timestamp;
        organizationId?: string;
      },
    ): Promise<{ events: readonly ScalekitLoggedEvent[]; nextPageToken: string }>;
  };
  organization: ScalekitDirectoryClient['organization'];
}

/** The webhook's `object` for each directory event type (the Events API sends an enum). */
function objectOf(type: string): string {
  if (type.startsWith('organization.directory.user_')) return 'DirectoryUser';
  if (type.startsWith('organization.directory.group_')) return 'DirectoryGroup';
  return 'Directory';
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A protobuf Timestamp as RFC 3339 with all its nanoseconds, as webhooks carry `occurred_at`. */
export function rfc3339OfTimestamp(timestamp: Timestamp): string {
  const date = new Date(Number(timestamp.seconds) * 1000);
  const day = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return `${day}T${time}.${pad(timestamp.nanos, 9)}Z`;
}

export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** The logged event as the webhook that carried it: the envelope in snake_case, `data` as sent. */
export function webhookOfLoggedEvent(event: ScalekitLoggedEvent): Record<string, unknown> {
  return {
    spec_version: event.specVersion,
    id: event.id,
    type: event.type,
    ...(event.occurredAt && { occurred_at: rfc3339OfTimestamp(event.occurredAt) }),
    environment_id: event.environmentId,
    ...(event.organizationId !== undefined && event.organizationId !== '' && { organization_id: event.organizationId }),
    object: objectOf(event.type),
    data: event.data,
  };
}

function checkClient(client: unknown, report: Report): void {
  const events = (client as { events?: { listEventsPaginated?: unknown } } | null | undefined)?.events;
  if (typeof events?.listEventsPaginated !== 'function') {
    report(
      `must be a ScalekitClient from @scalekit-sdk/node 2.11 or later (it has events.listEventsPaginated), got ${describeValue(client)}`,
    );
  }
}

/**
 * Throws an `OptionsError` when `client` has no `events.listEventsPaginated` (an SDK before 2.11):
 * upgrade `@scalekit-sdk/node`.
 */
export function scalekitEventSource(client: ScalekitEventsClient): EventLogSource {
  checkArgument('scalekitEventSource', 'client', client, checkClient);
  return {
    async listEvents(request: EventLogRequest): Promise<EventLogPage> {
      try {
        const response = await client.events.listEventsPaginated(request.pageSize, request.pageToken ?? '', {
          eventTypes: [...request.eventTypes],
          startTime: timestampOf(request.startTime.getTime()),
          endTime: timestampOf(request.endTime.getTime()),
          organizationId: request.organizationId,
        });
        return {
          items: response.events.map(webhookOfLoggedEvent),
          nextPageToken: response.nextPageToken === '' ? undefined : response.nextPageToken,
        };
      } catch (error) {
        throw toDirectorySourceError(error, `list the events of organization ${request.organizationId}`);
      }
    },
    listOrganizations: (request): Promise<SourcePage<SourceOrganization>> => listScalekitOrganizations(client, request),
  };
}
