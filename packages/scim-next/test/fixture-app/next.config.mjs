import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../..', import.meta.url));

/** A minimal Next.js app that mounts the adapter both ways, for the adapter conformance suite. */
export default {
  // Load the adapter and core from node_modules at run time, as an app installing them from npm would.
  serverExternalPackages: ['@org/scim-next', '@org/scim-core'],
  outputFileTracingRoot: root,
  turbopack: { root },
  async rewrites() {
    return [{ source: '/pages-router/webhooks/scalekit', destination: '/api/pages-webhook' }];
  },
};
