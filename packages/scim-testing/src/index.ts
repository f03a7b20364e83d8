export * from './factories.js';
export * from './signer.js';
