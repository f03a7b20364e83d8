export {
  type Admin,
  type AdminOptions,
  createAdmin,
  type PageAnswer,
  PORTAL_LINK_PATH,
  PORTAL_SCRIPT_PATH,
  readPortalScript,
} from './admin.js';
export { type AdminApi, type AdminApiOptions, createAdminApi } from './admin-api.js';
export type { Authorize } from './authorize.js';
export {
  ConfigError,
  type DatabaseConfig,
  DEFAULT_DATABASE_SCHEMA,
  type ExampleConfig,
  loadConfig,
  SCALEKIT_API_VARIABLES,
  SCIM_VARIABLES,
  type ScalekitApiConfig,
  type ScalekitApiMissing,
  type ScalekitApiVariable,
  type ScimConfig,
  type ScimMissing,
  type ScimVariable,
} from './config.js';
export { createAppTables, postgresUserService, type Queryable } from './postgres-user-service.js';
export { createProvisioning, type UsersForEvent } from './provisioning.js';
export type { JsonAnswer, RequestView } from './request.js';
export { createScim, SCIM_BASE_PATH } from './scim.js';
export {
  formatServerError,
  logServerError,
  type ServerError,
  type ServerErrorHook,
  webhookServerErrors,
} from './server-errors.js';
export { ADMIN_SESSION_COOKIE } from './session.js';
export { openProvisioning, type Provisioning } from './storage.js';
export { createSync, runSync, type Sync, type SyncAnswer, type SyncError, type SyncErrorCode } from './sync.js';
export {
  type AppGroup,
  type AppUser,
  createUserService,
  displayName,
  toAppUser,
  type UserService,
  type UserWrites,
} from './user-service.js';
