// Pages Router API route, with Next's body parser off as the adapter requires.
import { scalekitWebhookApiRoute } from '@org/scim-next';

export const config = { api: { bodyParser: false } };

export default function handler(request, response) {
  return scalekitWebhookApiRoute(globalThis[Symbol.for('scim-sync.conformance.receiver')])(request, response);
}
