/** `@org/scim-testing/fake-scalekit`: a local Scalekit the real `@scalekit-sdk/node` client talks to. */
export * from './fake-scalekit/index.js';
