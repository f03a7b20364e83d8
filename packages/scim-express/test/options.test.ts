/** Each route factory refuses a missing or wrong argument at once, naming it and what to pass. */
import { runRouteOptionsSuite } from '@org/scim-testing/conformance';
import { adminPortalLink, scalekitWebhook, scimRouter } from '../src/index.js';

runRouteOptionsSuite([
  {
    route: 'scalekitWebhook',
    argument: 'receiver',
    takes: 'webhook receiver',
    mount: (v) => scalekitWebhook(v as never),
  },
  { route: 'scimRouter', argument: 'server', takes: 'SCIM server', mount: (v) => scimRouter(v as never) },
  {
    route: 'adminPortalLink',
    argument: 'handler',
    takes: 'portal-link handler',
    mount: (v) => adminPortalLink(v as never),
  },
]);
