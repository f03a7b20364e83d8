import { pageResponse, route, scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** `@org/scim-portal`'s browser build, which `/settings` imports. */
export const GET = route(async () => pageResponse((await scim()).admin.portalScript()));
