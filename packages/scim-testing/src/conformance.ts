export { runStoreConformanceSuite, type StoreConformanceOptions } from './store-conformance.js';
