import { scalekitWebhookRoute } from '@org/scim-next';
import { route, scim } from '../../../lib/scim';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export const POST = route(async (request) => scalekitWebhookRoute((await scim()).webhooks).POST(request));
