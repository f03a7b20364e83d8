import { pageResponse, route, scim, view } from '../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/**
 * The organization's SSO and SCIM settings, embedding Scalekit's admin portal: the same plain page
 * every example serves (no React needed for it; a React app can use `@org/scim-portal/react`).
 */
export const GET = route(async (request) => {
  const { admin, authorize } = await scim();
  return pageResponse(await admin.settingsPage(await authorize(request), view(request)));
});
