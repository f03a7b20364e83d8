import { memoryStore } from '@org/scim-core';
import { runAccessIngressSuite } from '../src/conformance.js';

runAccessIngressSuite('memoryStore()', { create: () => memoryStore() });
