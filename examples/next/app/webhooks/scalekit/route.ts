import { scalekitWebhookRoute } from '@org/scim-next';
import { scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  return scalekitWebhookRoute((await scim()).webhooks).POST(request);
}
