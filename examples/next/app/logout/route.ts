import { pageResponse, scim } from '../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function POST(): Promise<Response> {
  return pageResponse((await scim()).admin.logout());
}
