export {
  ADMIN_SESSION_COOKIE,
  type Admin,
  type AdminOptions,
  createAdmin,
  type PageAnswer,
  PORTAL_LINK_PATH,
  PORTAL_SCRIPT_PATH,
  readPortalScript,
} from './admin.js';
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
export { createScim, SCIM_BASE_PATH } from './scim.js';
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
