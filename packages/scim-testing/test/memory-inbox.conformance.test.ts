import { memoryInbox } from '@org/scim-core';
import { runInboxConformanceSuite } from '../src/conformance.js';

runInboxConformanceSuite('memoryInbox()', { create: () => memoryInbox() });
