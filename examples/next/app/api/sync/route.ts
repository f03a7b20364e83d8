import { runSync } from 'example-shared';
import { scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** Reconciliation on demand. A real app lets only its admins (or an internal job) call this. */
export async function POST(request: Request): Promise<Response> {
  const { status, body } = await runSync((await scim()).sync, new URL(request.url).searchParams);
  return Response.json(body, { status });
}
