export * from './directory-stream.js';
export * from './factories.js';
export * from './signer.js';
