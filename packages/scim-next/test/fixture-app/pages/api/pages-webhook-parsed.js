// The same route with Next's default body parser left on: the adapter must say how to fix it.
import { scalekitWebhookApiRoute } from '@org/scim-next';

export default function handler(request, response) {
  return scalekitWebhookApiRoute(globalThis[Symbol.for('scim-sync.conformance.receiver')])(request, response);
}
