// App Router catch-all route for the SCIM server. The test process puts the server on globalThis before serving.
import { scimRoute } from '@org/scim-next';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const route = (method) => (request) => scimRoute(globalThis[Symbol.for('scim-sync.conformance.scim')])[method](request);

export const GET = route('GET');
export const POST = route('POST');
export const PUT = route('PUT');
export const PATCH = route('PATCH');
export const DELETE = route('DELETE');
