import type { ScimServer } from '@org/scim-core';
import { scimRoute } from '@org/scim-next';
import { route, scim } from '../../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The SCIM server of `lib/scim.ts`, opened at the first request like the rest. */
const server: ScimServer = {
  handle: async (request) => (await scim()).scimServer.handle(request),
  respond: async (request) => (await scim()).scimServer.respond(request),
};

const scimRoutes = scimRoute(server);
export const GET = route(scimRoutes.GET);
export const POST = route(scimRoutes.POST);
export const PUT = route(scimRoutes.PUT);
export const PATCH = route(scimRoutes.PATCH);
export const DELETE = route(scimRoutes.DELETE);
