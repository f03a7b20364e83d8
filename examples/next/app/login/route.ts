import { pageResponse, route, scim, view } from '../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The demo sign-in (DEMO_LOGIN=1 only): a real app has its own. */
export const GET = route(async () => pageResponse((await scim()).admin.loginPage()));

export const POST = route(async (request) =>
  pageResponse((await scim()).admin.login(await request.text(), view(request))),
);
