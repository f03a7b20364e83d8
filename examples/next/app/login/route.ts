import { pageResponse, scim } from '../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The demo sign-in (DEMO_LOGIN=1 only): a real app has its own. */
export async function GET(): Promise<Response> {
  return pageResponse((await scim()).admin.loginPage());
}

export async function POST(request: Request): Promise<Response> {
  return pageResponse((await scim()).admin.login(await request.text()));
}
