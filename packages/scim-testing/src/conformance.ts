export { type AccessIngressOptions, runAccessIngressSuite } from './access-ingress.js';
export {
  type AdapterApp,
  type AdapterHarness,
  CONFORMANCE_MAX_BODY_BYTES,
  runAdapterConformanceSuite,
} from './adapter-conformance.js';
export { type InboxConformanceOptions, runInboxConformanceSuite } from './inbox-conformance.js';
export { type RouteOptionsCase, runRouteOptionsSuite } from './route-options.js';
export { runScimHostileInputSuite, type ScimHostileInputHarness } from './scim-hostile-input.js';
export {
  runScimMountConformanceSuite,
  SCIM_MOUNT_MAX_BODY_BYTES,
  type ScimMountApp,
  type ScimMountHarness,
} from './scim-mount-conformance.js';
export { runStoreConformanceSuite, type StoreConformanceOptions } from './store-conformance.js';
