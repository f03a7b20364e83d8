import { memoryStore } from '@org/scim-core';
import { runStoreConformanceSuite } from '../src/conformance.js';

runStoreConformanceSuite('memoryStore()', { create: () => memoryStore() });
