/**
 * The messages Scalekit's admin portal posts to the page that embeds it, shaped
 * `{ event_type, object, organization_id?, message, data }`. Wire names are kept as they arrive;
 * `type` is the discriminant to switch on, because an unknown `event_type` must not narrow like a
 * known one.
 */

/** Fields every portal message may carry, under their wire names. */
interface PortalEventBase<Type extends string, Data> {
  type: Type;
  event_type: Type;
  /** What the event is about (for example `"connection"` or `"directory"`), when the portal says. */
  object?: string;
  organization_id?: string;
  message?: string;
  data: Data;
  /** The message exactly as `postMessage` delivered it. */
  raw: unknown;
}

/** `data` of `ORGANIZATION_SSO_ENABLED` / `ORGANIZATION_SSO_DISABLED`. */
export interface SsoConnectionData {
  connection_type: string;
  /** `conn_…` */
  id: string;
  type: 'OIDC' | 'SAML' | (string & {});
  provider: string;
  enabled: boolean;
}

/** `data` of `ORGANIZATION_DIRECTORY_ENABLED` / `ORGANIZATION_DIRECTORY_DISABLED`. */
export interface DirectoryData {
  directory_type: string;
  /** `dir_…` */
  id: string;
  provider: string;
  enabled: boolean;
}

/** `data` of the portal session events; `expiry` as sent (when sent). */
export interface PortalSessionData {
  expiry?: string | number;
}

/** `data` of `PORTAL_LOAD_FAILURE`: `error_code` is `"SESSION_EXPIRED"` or another code. */
export interface PortalLoadFailureData {
  error_code: 'SESSION_EXPIRED' | (string & {});
}

/** The portal session's end, parsed from `data.expiry` (`undefined` when absent or unparseable). */
interface WithExpiry {
  expiry: Date | undefined;
}

export type SsoConnectionEvent = PortalEventBase<
  'ORGANIZATION_SSO_ENABLED' | 'ORGANIZATION_SSO_DISABLED',
  SsoConnectionData
>;
export type DirectoryEvent = PortalEventBase<
  'ORGANIZATION_DIRECTORY_ENABLED' | 'ORGANIZATION_DIRECTORY_DISABLED',
  DirectoryData
>;
export type PortalLoadSuccessEvent = PortalEventBase<'PORTAL_LOAD_SUCCESS', PortalSessionData> & WithExpiry;
export type PortalLoadFailureEvent = PortalEventBase<'PORTAL_LOAD_FAILURE', PortalLoadFailureData>;
/** Sent about 5 minutes before the portal session ends. */
export type PortalSessionWarningEvent = PortalEventBase<'PORTAL_SESSION_WARNING', PortalSessionData> & WithExpiry;
export type PortalSessionExpiryEvent = PortalEventBase<'PORTAL_SESSION_EXPIRY', PortalSessionData> & WithExpiry;

/**
 * A message with a string `event_type` this package does not know, or a known `event_type` whose
 * `data` does not have the documented shape. Passed through so new portal events are not lost.
 */
export interface UnknownPortalEvent {
  type: 'unknown';
  event_type: string;
  object?: string;
  organization_id?: string;
  message?: string;
  data: unknown;
  raw: unknown;
}

/** Every event `parsePortalMessage` returns; switch on `type`. */
export type PortalEvent =
  | SsoConnectionEvent
  | DirectoryEvent
  | PortalLoadSuccessEvent
  | PortalLoadFailureEvent
  | PortalSessionWarningEvent
  | PortalSessionExpiryEvent
  | UnknownPortalEvent;

/** The `event_type`s this package parses into typed events. */
export type KnownPortalEventType = Exclude<PortalEvent, UnknownPortalEvent>['type'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSsoConnectionData(data: unknown): data is SsoConnectionData {
  return (
    isRecord(data) &&
    typeof data.connection_type === 'string' &&
    typeof data.id === 'string' &&
    typeof data.type === 'string' &&
    typeof data.provider === 'string' &&
    typeof data.enabled === 'boolean'
  );
}

function isDirectoryData(data: unknown): data is DirectoryData {
  return (
    isRecord(data) &&
    typeof data.directory_type === 'string' &&
    typeof data.id === 'string' &&
    typeof data.provider === 'string' &&
    typeof data.enabled === 'boolean'
  );
}

// Lenient on purpose: a session event must still trigger a refresh when the portal omits `expiry`.
function isPortalSessionData(data: unknown): data is PortalSessionData {
  return (
    isRecord(data) && (data.expiry === undefined || typeof data.expiry === 'string' || isFiniteNumber(data.expiry))
  );
}

function isPortalLoadFailureData(data: unknown): data is PortalLoadFailureData {
  return isRecord(data) && typeof data.error_code === 'string';
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function parseExpiry(expiry: string | number | undefined): Date | undefined {
  if (expiry === undefined) return undefined;
  // A number below 1e12 is a Unix time in seconds (1e12 ms is 2001-09-09).
  const date = new Date(typeof expiry === 'number' && expiry < 1e12 ? expiry * 1000 : expiry);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Turns the `data` of a `message` event into a typed portal event. Returns `undefined` for anything
 * that is not a portal message (no string `event_type`); never throws. It does not check where the
 * message came from: compare `event.origin` with the portal link's origin and `event.source` with
 * the iframe's `contentWindow` first (`mountAdminPortal` does).
 */
export function parsePortalMessage(raw: unknown): PortalEvent | undefined {
  if (!isRecord(raw) || typeof raw.event_type !== 'string' || raw.event_type === '') return undefined;
  const event_type = raw.event_type;
  const data = raw.data;
  const base = {
    object: optionalString(raw.object),
    organization_id: optionalString(raw.organization_id),
    message: optionalString(raw.message),
    raw,
  };
  const unknown: UnknownPortalEvent = { type: 'unknown', event_type, ...base, data };
  switch (event_type) {
    case 'ORGANIZATION_SSO_ENABLED':
    case 'ORGANIZATION_SSO_DISABLED':
      if (isSsoConnectionData(data)) return { type: event_type, event_type, ...base, data };
      break;
    case 'ORGANIZATION_DIRECTORY_ENABLED':
    case 'ORGANIZATION_DIRECTORY_DISABLED':
      if (isDirectoryData(data)) return { type: event_type, event_type, ...base, data };
      break;
    case 'PORTAL_LOAD_SUCCESS':
      return sessionEvent(event_type, data, base) ?? unknown;
    case 'PORTAL_SESSION_WARNING':
      return sessionEvent(event_type, data, base) ?? unknown;
    case 'PORTAL_SESSION_EXPIRY':
      return sessionEvent(event_type, data, base) ?? unknown;
    case 'PORTAL_LOAD_FAILURE':
      if (isPortalLoadFailureData(data)) return { type: event_type, event_type, ...base, data };
      break;
  }
  return unknown;
}

type PortalSessionEventType = (PortalLoadSuccessEvent | PortalSessionWarningEvent | PortalSessionExpiryEvent)['type'];

function sessionEvent<Type extends PortalSessionEventType>(
  type: Type,
  data: unknown,
  base: Omit<PortalEventBase<Type, PortalSessionData>, 'type' | 'event_type' | 'data'>,
): (PortalEventBase<Type, PortalSessionData> & WithExpiry) | undefined {
  // The portal may omit `data` on a session event; it must still count.
  const sessionData = data === undefined ? {} : data;
  if (!isPortalSessionData(sessionData)) return undefined;
  return { type, event_type: type, ...base, data: sessionData, expiry: parseExpiry(sessionData.expiry) };
}

/**
 * Whether the event means the portal session is over and the frame needs a fresh link:
 * `PORTAL_SESSION_EXPIRY`, or `PORTAL_LOAD_FAILURE` with `error_code: "SESSION_EXPIRED"`.
 */
export function isSessionExpired(event: PortalEvent): boolean {
  return (
    event.type === 'PORTAL_SESSION_EXPIRY' ||
    (event.type === 'PORTAL_LOAD_FAILURE' && event.data.error_code === 'SESSION_EXPIRED')
  );
}
