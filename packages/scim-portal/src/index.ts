export { PortalLinkError } from './errors.js';
export {
  type DirectoryData,
  type DirectoryEvent,
  isSessionExpired,
  type KnownPortalEventType,
  type PortalEvent,
  type PortalLoadFailureData,
  type PortalLoadFailureEvent,
  type PortalLoadSuccessEvent,
  type PortalSessionData,
  type PortalSessionExpiryEvent,
  type PortalSessionWarningEvent,
  parsePortalMessage,
  type SsoConnectionData,
  type SsoConnectionEvent,
  type UnknownPortalEvent,
} from './events.js';
export { DEFAULT_LINK_URL, fetchPortalLink, type PortalLink, validatePortalLink } from './link.js';
export {
  type AdminPortal,
  type AdminPortalStatus,
  MIN_PORTAL_HEIGHT,
  type MountAdminPortalOptions,
  mountAdminPortal,
} from './mount.js';
