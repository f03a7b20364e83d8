/**
 * The receiver an adapter server mounts. By default the real one (`createScalekitWebhookReceiver`
 * over a `memoryStore()` engine with the shared Map handlers). With `BENCH_RECEIVER=stub`, a
 * receiver that does only what the framework's bare route does (verify + `JSON.parse`,
 * lib/standard-webhooks.ts) and answers in the real one's shape: the adapter server then costs what
 * the bare route costs plus the adapter's own work, so stub / bare measures the adapter alone
 * (reading the raw bytes, handing them over, writing the answer), with 1.0 as the reference. The
 * adapter-vs-bare ratio mixes that with everything `receive` does (schema, engine, store,
 * handlers); `engine-inprocess.ts` measures that part.
 */
import {
  createEngine,
  createScalekitWebhookReceiver,
  memoryStore,
  readHeader,
  type ScalekitWebhookReceiver,
  type WebhookErrorCode,
  type WebhookResponse,
} from '@org/scim-core';
import { createMapHandlers } from './handlers.js';
import { MAX_BODY_BYTES, receiveBare } from './standard-webhooks.js';

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export interface AdapterReceiver {
  receiver: ScalekitWebhookReceiver;
  /** What `/bench/state` answers: the mirror's counts, or (stub) how many events it verified. */
  state(): unknown;
}

/** The receiver chosen by `BENCH_RECEIVER` (`engine`, the default, or `stub`). */
export function adapterReceiver(secret: string, key: Buffer): AdapterReceiver {
  const choice = process.env.BENCH_RECEIVER ?? 'engine';
  if (choice === 'stub') return stubReceiver(key);
  if (choice !== 'engine') throw new Error(`BENCH_RECEIVER must be engine or stub, got ${choice}`);
  const mirror = createMapHandlers();
  return {
    receiver: createScalekitWebhookReceiver({
      engine: createEngine({ store: memoryStore(), handlers: mirror.handlers }),
      secret,
    }),
    state: () => mirror.state(),
  };
}

function stubReceiver(key: Buffer): AdapterReceiver {
  let verified = 0;
  const reject = (
    status: number,
    code: WebhookErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ): WebhookResponse => ({ status, headers: { ...JSON_HEADERS, ...headers }, body: { error: { code, message } } });
  const receive: ScalekitWebhookReceiver['receive'] = async ({ headers, body }) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const answer = receiveBare(key, (name) => readHeader(headers, name), bytes);
    if (answer.status !== 200) return reject(answer.status, 'invalid_signature', JSON.stringify(answer.body));
    verified += 1;
    const eventId = String((answer.body as { eventId?: unknown }).eventId);
    return { status: 200, headers: JSON_HEADERS, body: { received: true, eventId, status: 'applied', handlers: [] } };
  };
  return {
    state: () => ({ verified }),
    receiver: {
      receive,
      async handle(request) {
        const answer = await receive({ headers: request.headers, body: new Uint8Array(await request.arrayBuffer()) });
        return new Response(JSON.stringify(answer.body), { status: answer.status, headers: answer.headers });
      },
      reject,
      maxBodyBytes: MAX_BODY_BYTES,
    },
  };
}
