export { ConfigError, type ExampleConfig, loadConfig } from './config.js';
export { createProvisioning } from './provisioning.js';
export { type AppGroup, type AppUser, createUserService, type UserService } from './user-service.js';
