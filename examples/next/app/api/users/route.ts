import { organizationOf, scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function GET(request: Request): Promise<Response> {
  const organizationId = organizationOf(request);
  if (typeof organizationId !== 'string') return organizationId;
  return Response.json(await (await scim()).users.listUsers(organizationId));
}
