import type { ScimServer } from '@org/scim-core';
import { scimRoute } from '@org/scim-next';
import { scim } from '../../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The SCIM server of `lib/scim.ts`, opened at the first request like the rest. */
const server: ScimServer = { handle: async (request) => (await scim()).scimServer.handle(request) };

export const { GET, POST, PUT, PATCH, DELETE } = scimRoute(server);
