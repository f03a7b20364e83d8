import { organizationOf, scim } from '../../../lib/scim';

export const dynamic = 'force-dynamic';

export function GET(request: Request): Response {
  const organizationId = organizationOf(request);
  return typeof organizationId === 'string' ? Response.json(scim().users.listUsers(organizationId)) : organizationId;
}
