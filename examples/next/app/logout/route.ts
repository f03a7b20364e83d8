import { pageResponse, route, scim, view } from '../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export const POST = route(async (request) => pageResponse((await scim()).admin.logout(view(request))));
