export {
  ConfigError,
  type ExampleConfig,
  loadConfig,
  SCALEKIT_API_VARIABLES,
  type ScalekitApiConfig,
  type ScalekitApiMissing,
  type ScalekitApiVariable,
} from './config.js';
export { createProvisioning } from './provisioning.js';
export { createSync, runSync, type Sync, type SyncAnswer, type SyncError, type SyncErrorCode } from './sync.js';
export { type AppGroup, type AppUser, createUserService, type UserService } from './user-service.js';
