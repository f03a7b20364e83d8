/**
 * `@org/scim-core/app`: the framework-agnostic parts of a provisioned app's own routes, which every
 * example mounts with a few lines of its framework. Nothing here is needed to receive webhooks or
 * serve SCIM; it is what an app adds around them:
 *
 * - `loadConfig()`: the environment contract (`SCALEKIT_WEBHOOK_SECRET`, `SCALEKIT_*` API
 *   credentials, `SCIM_*`, `DATABASE_URL`, `DEMO_LOGIN`, …), checked at start with errors that say
 *   what to set.
 * - `openScalekit()`: Scalekit's client, loading the optional `@scalekit-sdk/node` only when the
 *   credentials are set.
 * - `createAdminApi()`: `GET /api/users`, `GET /api/groups`, `POST /api/sync` for the signed-in
 *   admin of one organization (`authorize`), refusing cross-site requests.
 * - `createAdmin()`: `/settings` with the embedded admin portal (`@org/scim-portal`, optional), the
 *   portal-link route, and a demo sign-in (`DEMO_LOGIN=1`) standing in for the app's own sessions.
 * - `accessOptions()`, `accessView()`: the role mapping of `ACCESS_RULES` / `ACCESS_RULES_FILE`
 *   (`loadConfig().access`) for `createEngine({ access })` and for the settings page's roles card.
 * - `createScim()`: the SCIM server from `SCIM_BEARER_TOKEN` and `SCIM_ORGANIZATION_ID`.
 * - `logServerError` and friends: every 5xx reaches one hook with its cause.
 */
export {
  ACCESS_VARIABLES,
  ACCESS_VIEW_GROUPS,
  type AccessConfig,
  AccessConfigError,
  type AccessVariable,
  type AccessView,
  accessOptions,
  accessRulesOf,
  accessView,
  MAX_ACCESS_ORGANIZATIONS,
  MAX_ACCESS_RULES_BYTES,
  readAccessConfig,
} from './access.js';
export {
  type Admin,
  type AdminOptions,
  createAdmin,
  type PageAnswer,
  PORTAL_LINK_PATH,
  PORTAL_SCRIPT_PATH,
  readPortalScript,
} from './admin.js';
export { type AdminApi, type AdminApiOptions, type AdminDirectory, createAdminApi } from './admin-api.js';
export { type Authorize, organizationFor } from './authorize.js';
export {
  type AppConfig,
  ConfigError,
  type DatabaseConfig,
  DEFAULT_DATABASE_SCHEMA,
  DEFAULT_DATABASE_TABLE_PREFIX,
  loadConfig,
  MAX_SCIM_TOKENS,
  type MysqlDatabaseConfig,
  type PostgresDatabaseConfig,
  SCALEKIT_API_VARIABLES,
  SCIM_VARIABLES,
  type ScalekitApiConfig,
  type ScalekitApiMissing,
  type ScalekitApiVariable,
  type ScimConfig,
  type ScimMissing,
  type ScimVariable,
} from './config.js';
export { isCrossSite, isHttps, type JsonAnswer, mediaType, type RequestView, refuseCrossSite } from './request.js';
export { groupRules } from './roles-panel.js';
export { openScalekit, type ScalekitApi, type ScalekitApiClient } from './scalekit.js';
export { createScim, SCIM_BASE_PATH } from './scim.js';
export {
  formatServerError,
  logServerError,
  type ServerError,
  type ServerErrorHook,
  webhookServerErrors,
} from './server-errors.js';
export { ADMIN_SESSION_COOKIE, createSessions, type SessionOptions, type Sessions } from './session.js';
export { createSync, runSync, type Sync, type SyncAnswer, type SyncError, type SyncErrorCode } from './sync.js';
