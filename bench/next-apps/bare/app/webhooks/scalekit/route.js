// Bare Next.js route handler: the raw body read the idiomatic way (`await request.arrayBuffer()`),
// then verify + JSON.parse (bench/lib/standard-webhooks.ts, as every bare route) and 200 JSON.
import { receiveBare, webhookKey } from '../../../../../lib/standard-webhooks.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const KEY = Symbol.for('bench.next-bare');

/** The key and a count of verified events, once per server process (read at request time, not at build). */
function state() {
  globalThis[KEY] ??= { key: webhookKey(process.env.SCALEKIT_WEBHOOK_SECRET), verified: 0 };
  return globalThis[KEY];
}

export async function POST(request) {
  const bare = state();
  const body = new Uint8Array(await request.arrayBuffer());
  const answer = receiveBare(bare.key, (name) => request.headers.get(name), body);
  if (answer.status === 200) bare.verified += 1;
  return Response.json(answer.body, { status: answer.status });
}
