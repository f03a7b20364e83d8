// App Router route handler. The test process puts the receiver on globalThis before serving.
import { scalekitWebhookRoute } from '@org/scim-next';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function POST(request) {
  return scalekitWebhookRoute(globalThis[Symbol.for('scim-sync.conformance.receiver')]).POST(request);
}
