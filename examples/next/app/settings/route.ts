import { pageResponse, scim } from '../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/**
 * The organization's SSO and SCIM settings, embedding Scalekit's admin portal: the same plain page
 * every example serves (no React needed for it; a React app can use `@org/scim-portal/react`).
 */
export async function GET(request: Request): Promise<Response> {
  return pageResponse(await (await scim()).admin.settingsPage(request.headers.get('cookie')));
}
