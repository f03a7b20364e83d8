/** Each route factory refuses a missing or wrong argument at once, naming it and what to pass. */
import { runRouteOptionsSuite } from '@org/scim-testing/conformance';
import { adminPortalLinkRoute, scalekitWebhookApiRoute, scalekitWebhookRoute, scimRoute } from '../src/index.js';

runRouteOptionsSuite([
  {
    route: 'scalekitWebhookRoute',
    argument: 'receiver',
    takes: 'webhook receiver',
    mount: (v) => scalekitWebhookRoute(v as never),
  },
  {
    route: 'scalekitWebhookApiRoute',
    argument: 'receiver',
    takes: 'webhook receiver',
    mount: (v) => scalekitWebhookApiRoute(v as never),
  },
  { route: 'scimRoute', argument: 'server', takes: 'SCIM server', mount: (v) => scimRoute(v as never) },
  {
    route: 'adminPortalLinkRoute',
    argument: 'handler',
    takes: 'portal-link handler',
    mount: (v) => adminPortalLinkRoute(v as never),
  },
]);
