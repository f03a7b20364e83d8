import { pageResponse, scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** `@org/scim-portal`'s browser build, which `/settings` imports. */
export async function GET(): Promise<Response> {
  return pageResponse((await scim()).admin.portalScript());
}
