// One engine and receiver per server process, on globalThis (Next.js may evaluate a module once per
// route bundle), over memoryStore with the handlers every adapter server runs (bench/lib/handlers.ts).
import { createEngine, createScalekitWebhookReceiver, memoryStore } from '@org/scim-core';
import { createMapHandlers } from '../../../lib/handlers.ts';

const KEY = Symbol.for('bench.next-adapter');

export function scim() {
  if (!globalThis[KEY]) {
    const mirror = createMapHandlers();
    const engine = createEngine({ store: memoryStore(), handlers: mirror.handlers });
    const webhooks = createScalekitWebhookReceiver({ engine, secret: process.env.SCALEKIT_WEBHOOK_SECRET });
    globalThis[KEY] = { mirror, webhooks };
  }
  return globalThis[KEY];
}
