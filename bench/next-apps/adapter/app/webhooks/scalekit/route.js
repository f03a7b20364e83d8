// The Next.js adapter as its README mounts it: an App Router route handler from
// scalekitWebhookRoute(receiver), the receiver kept on globalThis (lib/scim.js).
import { scalekitWebhookRoute } from '@org/scim-next';
import { scim } from '../../../lib/scim.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

let route;

export function POST(request) {
  route ??= scalekitWebhookRoute(scim().webhooks);
  return route.POST(request);
}
