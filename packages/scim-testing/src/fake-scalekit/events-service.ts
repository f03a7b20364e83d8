/**
 * `scalekit.v1.events.EventsService`: `ListEventsPaginated` served from the event log, newest
 * first. `ListEvents` and `SendCustomEvent` answer `Unimplemented`.
 *
 * Filters, all optional and combined with AND:
 * - `eventTypes`: any of these exact types.
 * - `startTime` inclusive, `endTime` exclusive, against `occurred_at` to the nanosecond; a
 *   `startTime` after the `endTime` is `InvalidArgument`.
 * - `organizationId`: that organization's events (an unknown one lists nothing).
 * - `source`: `DIR_SYNC` or unspecified lists the fake's events, which are all directory events;
 *   `SCALEKIT` lists none.
 * - `authRequestId`, `interceptorId`, `interceptorStatus`, `interceptorDecision`, `connectionId`,
 *   `connectedAccountId`: no directory event belongs to an auth request, an interceptor, an SSO
 *   connection or a connected account, so any of them (non-empty) lists nothing.
 */
import { create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  type EventFilter,
  EventsService,
  ListEventsPaginatedResponseSchema,
  ObjectType,
  type ScalekitEventSchema,
  Source,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/events/events_pb.js';
import { type EventCursor, EventCursorCodec, filterFingerprint } from './event-cursor.js';
import type { EventLog, LoggedEvent } from './event-log.js';
import { DEFAULT_PAGE_SIZE } from './paging.js';
import { nanosFromTimestamp, timestampFromNanos } from './wire.js';

export interface EventsServiceContext {
  log: EventLog;
  maxPageSize: number;
}

const OBJECT_TYPES: ReadonlyMap<string, ObjectType> = new Map([
  ['Directory', ObjectType.Directory],
  ['DirectoryUser', ObjectType.DirectoryUser],
  ['DirectoryGroup', ObjectType.DirectoryGroup],
]);

/** What a request's filter asks for, checked and normalized once per call. */
interface EventQuery {
  types: ReadonlySet<string> | undefined;
  startNanos: bigint | undefined;
  endNanos: bigint | undefined;
  organizationId: string | undefined;
  /** A source or an auth-only field no directory event can have. */
  matchesNothing: boolean;
  fingerprint: string;
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function timeBound(name: string, timestamp: Timestamp | undefined): bigint | undefined {
  if (!timestamp) return undefined;
  if (!Number.isInteger(timestamp.nanos) || timestamp.nanos < 0 || timestamp.nanos > 999_999_999) {
    throw invalidArgument(`filter.${name}.nanos must be within 0 to 999,999,999, got ${timestamp.nanos}`);
  }
  return nanosFromTimestamp(timestamp);
}

function queryOf(filter: EventFilter | undefined): EventQuery {
  const types = filter?.eventTypes.length ? [...new Set(filter.eventTypes)].sort() : undefined;
  const startNanos = timeBound('start_time', filter?.startTime);
  const endNanos = timeBound('end_time', filter?.endTime);
  if (startNanos !== undefined && endNanos !== undefined && startNanos > endNanos) {
    throw invalidArgument('filter.start_time must not be after filter.end_time (start is inclusive, end exclusive)');
  }
  const source = filter?.source ?? Source.SOURCE_UNSPECIFIED;
  if (Source[source] === undefined) throw invalidArgument(`filter.source ${source} is not a known Source`);
  const authOnly = [
    filter?.authRequestId,
    filter?.interceptorId,
    filter?.interceptorStatus,
    filter?.interceptorDecision,
    filter?.connectionId,
    filter?.connectedAccountId,
  ].map((value) => value ?? '');
  const organizationId = filter?.organizationId || undefined;
  return {
    types: types && new Set(types),
    startNanos,
    endNanos,
    organizationId,
    matchesNothing: source === Source.SCALEKIT || authOnly.some((value) => value !== ''),
    fingerprint: filterFingerprint([
      types ?? [],
      startNanos?.toString() ?? '',
      endNanos?.toString() ?? '',
      organizationId ?? '',
      source,
      authOnly,
    ]),
  };
}

function matches(query: EventQuery, entry: LoggedEvent): boolean {
  const { event } = entry;
  if (query.types && !query.types.has(event.type)) return false;
  return query.organizationId === undefined || event.organization_id === query.organizationId;
}

interface EventPage {
  /** Newest first. */
  entries: LoggedEvent[];
  older: boolean;
  newer: boolean;
}

/**
 * The page `cursor` points at, among the events of `query` within the log as it is now. Positions
 * outside the time range are never looked at; the log is in `occurred_at` order.
 */
function pageOf(log: EventLog, query: EventQuery, cursor: EventCursor | undefined, size: number): EventPage {
  if (query.matchesNothing) return { entries: [], older: false, newer: false };
  const low = query.startNanos === undefined ? log.oldestSeq() : log.firstSeqAtOrAfter(query.startNanos);
  const high = (query.endNanos === undefined ? log.newestSeq() + 1 : log.firstSeqAtOrAfter(query.endNanos)) - 1;
  const match = (seq: number): LoggedEvent | undefined => {
    const entry = log.at(seq);
    return entry && matches(query, entry) ? entry : undefined;
  };
  const entries: LoggedEvent[] = [];
  if (cursor?.direction === 'newer') {
    for (let seq = Math.max(low, cursor.seq + 1); seq <= high && entries.length < size; seq++) {
      const entry = match(seq);
      if (entry) entries.push(entry);
    }
    entries.reverse();
  } else {
    const from = cursor ? Math.min(high, cursor.seq - 1) : high;
    for (let seq = from; seq >= low && entries.length < size; seq--) {
      const entry = match(seq);
      if (entry) entries.push(entry);
    }
  }
  const newest = entries[0];
  const oldest = entries[entries.length - 1];
  const any = (from: number, to: number): boolean => {
    for (let seq = from; seq <= to; seq++) if (match(seq)) return true;
    return false;
  };
  return {
    entries,
    older: oldest !== undefined && any(low, oldest.seq - 1),
    newer: newest !== undefined && any(newest.seq + 1, high),
  };
}

function eventMessage(entry: LoggedEvent): MessageInitShape<typeof ScalekitEventSchema> {
  const { event } = entry;
  return {
    specVersion: event.spec_version,
    id: event.id,
    type: event.type,
    occurredAt: timestampFromNanos(entry.occurredAtNanos),
    environmentId: event.environment_id,
    ...(typeof event.organization_id === 'string' && { organizationId: event.organization_id }),
    object: OBJECT_TYPES.get(event.object) ?? ObjectType.OBJECT_TYPE_UNSPECIFIED,
    data: event.data as unknown as JsonObject,
    displayName: typeof event.display_name === 'string' ? event.display_name : '',
  };
}

export function createEventsService(context: EventsServiceContext): Partial<ServiceImpl<typeof EventsService>> {
  const cursors = new EventCursorCodec();
  return {
    listEventsPaginated(request) {
      const query = queryOf(request.filter);
      const size = Math.min(request.pageSize > 0 ? request.pageSize : DEFAULT_PAGE_SIZE, context.maxPageSize);
      const cursor = request.pageToken === '' ? undefined : cursors.decode(request.pageToken, query.fingerprint);
      const page = pageOf(context.log, query, cursor, size);
      const newest = page.entries[0];
      const oldest = page.entries[page.entries.length - 1];
      return create(ListEventsPaginatedResponseSchema, {
        events: page.entries.map(eventMessage),
        nextPageToken:
          page.older && oldest ? cursors.encode({ direction: 'older', seq: oldest.seq }, query.fingerprint) : '',
        prevPageToken:
          page.newer && newest ? cursors.encode({ direction: 'newer', seq: newest.seq }, query.fingerprint) : '',
      });
    },
  };
}

export { EventsService };
