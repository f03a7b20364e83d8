import { scim } from '../../../lib/scim.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function GET() {
  return Response.json(scim().mirror.state());
}
