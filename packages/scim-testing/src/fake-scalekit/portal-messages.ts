/**
 * The `window.postMessage` events of Scalekit's admin portal (SCALEKIT.md §4), as the fake's page
 * posts them: `{ event_type, object, organization_id, message, data }`. Scalekit does not document
 * `object`; the fake's choice is `'connection'` for SSO, `'directory'` for directory sync and
 * `'portal'` for the load and session events. `message` is human-readable text, not a contract.
 */

export type FakePortalSsoEventType = 'ORGANIZATION_SSO_ENABLED' | 'ORGANIZATION_SSO_DISABLED';
export type FakePortalDirectoryEventType = 'ORGANIZATION_DIRECTORY_ENABLED' | 'ORGANIZATION_DIRECTORY_DISABLED';
export type FakePortalSessionEventType = 'PORTAL_LOAD_SUCCESS' | 'PORTAL_SESSION_WARNING' | 'PORTAL_SESSION_EXPIRY';
export type FakePortalEventType =
  | FakePortalSsoEventType
  | FakePortalDirectoryEventType
  | FakePortalSessionEventType
  | 'PORTAL_LOAD_FAILURE';

export const FAKE_PORTAL_EVENT_TYPES: readonly FakePortalEventType[] = [
  'ORGANIZATION_SSO_ENABLED',
  'ORGANIZATION_SSO_DISABLED',
  'ORGANIZATION_DIRECTORY_ENABLED',
  'ORGANIZATION_DIRECTORY_DISABLED',
  'PORTAL_LOAD_SUCCESS',
  'PORTAL_LOAD_FAILURE',
  'PORTAL_SESSION_WARNING',
  'PORTAL_SESSION_EXPIRY',
];

/**
 * `error_code` of `PORTAL_LOAD_FAILURE`: `SESSION_EXPIRED` for a link already opened or past its
 * minute (Scalekit's code); `INVALID_LINK` for a token the fake never issued (the fake's choice).
 */
export type FakePortalErrorCode = 'SESSION_EXPIRED' | 'INVALID_LINK';

export interface FakePortalSsoMessage {
  event_type: FakePortalSsoEventType;
  object: 'connection';
  organization_id: string;
  message: string;
  data: { connection_type: 'SSO'; id: string; type: 'OIDC' | 'SAML'; provider: string; enabled: boolean };
}

export interface FakePortalDirectoryMessage {
  event_type: FakePortalDirectoryEventType;
  object: 'directory';
  organization_id: string;
  message: string;
  data: { directory_type: 'SCIM'; id: string; provider: string; enabled: boolean };
}

export interface FakePortalSessionMessage {
  event_type: FakePortalSessionEventType;
  object: 'portal';
  organization_id: string;
  message: string;
  /** `expiry`: the end of the portal session, ISO 8601. */
  data: { expiry: string };
}

export interface FakePortalFailureMessage {
  event_type: 'PORTAL_LOAD_FAILURE';
  object: 'portal';
  /** Absent when the token is unknown. */
  organization_id?: string;
  message: string;
  data: { error_code: FakePortalErrorCode };
}

export type FakePortalMessage =
  | FakePortalSsoMessage
  | FakePortalDirectoryMessage
  | FakePortalSessionMessage
  | FakePortalFailureMessage;

export function loadSuccessMessage(organizationId: string, expiry: string): FakePortalSessionMessage {
  return {
    event_type: 'PORTAL_LOAD_SUCCESS',
    object: 'portal',
    organization_id: organizationId,
    message: 'Portal loaded',
    data: { expiry },
  };
}

export function loadFailureMessage(
  errorCode: FakePortalErrorCode,
  organizationId: string | undefined,
): FakePortalFailureMessage {
  return {
    event_type: 'PORTAL_LOAD_FAILURE',
    object: 'portal',
    ...(organizationId !== undefined && { organization_id: organizationId }),
    message:
      errorCode === 'SESSION_EXPIRED'
        ? 'This portal link has expired or was already used: generate a new one'
        : 'This portal link is not valid',
    data: { error_code: errorCode },
  };
}
