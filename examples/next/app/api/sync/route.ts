import { jsonResponse, route, scim, view } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** Reconciliation on demand: the signed-in admin's organization only, never from another site. */
export const POST = route(async (request) => jsonResponse(await (await scim()).api.sync(request, view(request))));
