import { jsonResponse, route, scim, view } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The signed-in admin's organization's users. */
export const GET = route(async (request) => jsonResponse(await (await scim()).api.users(request, view(request))));
