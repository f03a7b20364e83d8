import type { PortalLinkHandler } from '@org/scim-core';
import { adminPortalLinkRoute } from '@org/scim-next';
import { route, scim } from '../../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The link handler of `lib/scim.ts`, opened at the first request like the rest; it asks `authorize`. */
const handler: PortalLinkHandler<Request> = {
  respond: async (request, input) => (await scim()).portalLinks.respond(request, input),
};

const link = adminPortalLinkRoute(handler);
export const GET = route(link.GET);
export const POST = route(link.POST);
