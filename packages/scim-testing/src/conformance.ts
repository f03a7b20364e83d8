export {
  type AdapterApp,
  type AdapterHarness,
  CONFORMANCE_MAX_BODY_BYTES,
  runAdapterConformanceSuite,
} from './adapter-conformance.js';
export { runStoreConformanceSuite, type StoreConformanceOptions } from './store-conformance.js';
