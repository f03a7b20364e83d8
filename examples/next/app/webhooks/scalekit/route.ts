import { scalekitWebhookRoute } from '@org/scim-next';
import { scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function POST(request: Request): Promise<Response> {
  return scalekitWebhookRoute(scim().webhooks).POST(request);
}
