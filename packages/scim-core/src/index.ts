export type { EngineAccess, PutRulesResult, UserRoles } from './access/api.js';
export { type AccessOptions, DEFAULT_RULES_CACHE_MS } from './access/engine-access.js';
export {
  type AccessDiff,
  type AccessSubject,
  diffAccess,
  effectiveRoles,
  evaluateAccess,
} from './access/evaluate.js';
export {
  type PlannedAccessChange,
  type ReevaluateOptions,
  type ReevaluatePlan,
  reevaluationEventId,
} from './access/reevaluate.js';
export {
  ACCESS_LIMITS,
  type AccessRule,
  type AccessRules,
  AccessRulesError,
  type AccessRulesInput,
  accessRuleSchema,
  accessRulesSchema,
  parseAccessRules,
} from './access/rules.js';
export type { CoalesceOptions } from './engine/coalesce.js';
export * from './engine/engine.js';
export * from './engine/errors.js';
export type * from './engine/handlers.js';
export { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, readBodyWithLimit } from './http/body.js';
export {
  handleScimNodeRequest,
  type NodeDelivery,
  readNodeBody,
  receiveNodeRequest,
  type ScimNodeRequestOptions,
  scimNodeRequest,
  toWebRequest,
  type WebRequestOptions,
  writeNodeResponse,
  writeScimAnswer,
  writeWebResponse,
} from './http/node.js';
export * from './http/scalekit-webhook.js';
export { memoryInbox } from './inbox/memory.js';
export * from './inbox/types.js';
export * from './inbox/worker.js';
export type {
  Directory,
  DirectoryEvent,
  DirectoryEventType,
  DirectoryGroup,
  DirectoryUser,
  DirectoryUserRef,
  EventSource,
  GroupRef,
  IncomingEvent,
  Origin,
  PassthroughEvent,
} from './model.js';
export {
  directoryEventSchema,
  directoryGroupSchema,
  directorySchema,
  directoryUserRefSchema,
  directoryUserSchema,
  groupRefSchema,
} from './model.js';
export {
  HealthInputError,
  MAX_ORGANIZATION_ID_LENGTH,
  type OrganizationHealth,
  type ReadHealthOptions,
  type RunHealth,
  readHealth,
} from './observability/health.js';
export type { InboxCounts, InboxStatsSource } from './observability/inbox-stats.js';
export { defaultLogger, type Logger, type LogMethod, silentLogger } from './observability/logger.js';
export { parseRunSummary, type RunKind, type RunSummary } from './observability/run-summary.js';
export type {
  OpenTelemetryApi,
  TelemetryAttributes,
  TelemetryAttributeValue,
  TelemetryContext,
  TelemetryCounter,
  TelemetryHistogram,
  TelemetryMeter,
  TelemetryObservable,
  TelemetryObservableResult,
  TelemetryOptions,
  TelemetrySpan,
  TelemetryTracer,
} from './observability/telemetry.js';
export {
  expectPortalLinkHandler,
  expectScimServer,
  expectWebhookReceiver,
  OptionsError,
  type OptionsIssue,
} from './options.js';
export * from './portal/link.js';
export * from './reconcile/backfill.js';
export * from './reconcile/fingerprint.js';
export type { DeprovisionGuardOptions, GuardCheck } from './reconcile/guard.js';
export * from './reconcile/reconciler.js';
export {
  rfc3339OfTimestamp,
  type ScalekitEventsClient,
  type ScalekitLoggedEvent,
  scalekitEventSource,
  webhookOfLoggedEvent,
} from './reconcile/scalekit-events.js';
export * from './reconcile/scalekit-source.js';
export * from './reconcile/source.js';
export {
  normalizeScalekitDirectoryEvent,
  normalizeScalekitEvent,
  normalizeScalekitGroup,
  normalizeScalekitUser,
} from './scalekit/normalize.js';
export * from './scalekit/schemas.js';
export { type AttributeDefinition as ScimAttributeDefinition, SCHEMAS as SCIM_SCHEMAS } from './scim/discovery.js';
export { SCIM_ERROR_SCHEMA, ScimError, type ScimErrorType } from './scim/errors.js';
export type { ScimAnswer, ScimRequest } from './scim/exchange.js';
export {
  defineScimExtension,
  type ScimAttributeValues,
  type ScimExtensionValues,
  scimExtensionOf,
} from './scim/extension-values.js';
export { type Filter as ScimFilter, formatFilter, parseFilter } from './scim/filter.js';
export { DEFAULT_SCIM_LIMITS, type ScimLimits } from './scim/limits.js';
export { matchesFilter } from './scim/match.js';
export { applyPatch, PATCH_OP_SCHEMA, type PatchOperation, parsePatchRequest } from './scim/patch.js';
export type { ScimAttributeInput, ScimSchemaExtension } from './scim/schema.js';
export {
  createScimServer,
  type ScimFailure,
  type ScimServer,
  type ScimServerOptions,
} from './scim/server.js';
export {
  generateScimToken,
  hashScimToken,
  type ScimAuthenticator,
  type ScimTokenEntry,
  scimTokenAuthenticator,
} from './scim/tokens.js';
export { ClaimRefusedError, UnstorableValueError } from './store/errors.js';
export { eventKey } from './store/event-key.js';
export { type MemoryStoreOptions, memoryStore } from './store/memory.js';
export type * from './store/types.js';
export { FAILURE_MESSAGE_MAX, FAILURE_RETENTION_MS, FAILURES_KEPT, MAX_BATCH_EVENTS } from './store/types.js';
export { userNameKey } from './store/user-name.js';
export {
  compareIds,
  compareVersions,
  createdAt as versionCreatedAt,
  isNewerVersion,
  resourceKey,
} from './store/versions.js';
export { formatNanos, isRfc3339, parseRfc3339Nanos } from './time.js';
export {
  createWebhookVerifier,
  DEFAULT_TOLERANCE_SECONDS,
  decodeWebhookSecret,
  type HeaderSource,
  readHeader,
  type SignWebhookOptions,
  signWebhook,
  type VerifiedWebhook,
  verifyWebhook,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  type WebhookHeaders,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
  type WebhookVerifier,
  type WebhookVerifierOptions,
} from './webhooks/standard-webhooks.js';
