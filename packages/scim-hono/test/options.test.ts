/** Each route factory refuses a missing or wrong argument at once, naming it and what to pass. */
import { runRouteOptionsSuite } from '@org/scim-testing/conformance';
import { adminPortalLink, scalekitWebhook, scimRoutes } from '../src/index.js';

runRouteOptionsSuite([
  {
    route: 'scalekitWebhook',
    argument: 'receiver',
    takes: 'webhook receiver',
    mount: (v) => scalekitWebhook(v as never),
  },
  { route: 'scimRoutes', argument: 'server', takes: 'SCIM server', mount: (v) => scimRoutes(v as never) },
  {
    route: 'adminPortalLink',
    argument: 'handler',
    takes: 'portal-link handler',
    mount: (v) => adminPortalLink(v as never),
  },
]);
