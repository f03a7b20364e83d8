/**
 * One scenario of `instructions.ts`, run under `valgrind --tool=callgrind`: every event signed first,
 * then `warm` of them handled to warm the JIT, then `count` more between two marks. A mark is a call
 * of `v8.getHeapStatistics()`, which nothing else here makes: the driver has callgrind dump its
 * counters before each (`--dump-before`), so the second dump holds the counted events alone.
 *
 *   node --single-threaded --import tsx lib/instructions-scenario.ts <scenario> <warm> <count>
 *
 *   baseline  verify + UTF-8 decode + JSON.parse + parseScalekitEvent, as engine-inprocess.ts
 *   receive   createScalekitWebhookReceiver(…).receive over createEngine({ store: memoryStore() }),
 *             the Map-writing handlers every bench uses
 *
 * Exits non-zero if an event is not parsed or not applied, so a broken scenario never counts.
 */
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import {
  createEngine,
  createScalekitWebhookReceiver,
  createWebhookVerifier,
  memoryStore,
  parseScalekitEvent,
} from '@org/scim-core';
import { createEventStream } from './events.js';
import { createMapHandlers } from './handlers.js';

export const SCENARIOS = ['baseline', 'receive'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The native function a mark (`getHeapStatistics()`) calls, as callgrind names it (for `--dump-before`). */
export const MARK_FUNCTION = 'v8::Isolate::GetHeapStatistics*';

async function main() {
  const [scenario, warmArg, countArg] = process.argv.slice(2);
  const warm = Number(warmArg);
  const count = Number(countArg);
  if (!SCENARIOS.includes(scenario as Scenario) || !Number.isInteger(warm) || !Number.isInteger(count) || count < 1) {
    throw new Error(
      `usage: instructions-scenario.ts <${SCENARIOS.join('|')}> <warm> <count>, got ${process.argv.slice(2).join(' ')}`,
    );
  }
  // A fixed secret, so every run signs the same way.
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  const stream = createEventStream({ secret });
  const events = Array.from({ length: warm + count }, () => {
    const event = stream.next();
    return { headers: event.headers, body: event.bytes };
  });

  if (scenario === 'baseline') {
    const verify = createWebhookVerifier({ secret });
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    for (let i = 0; i < events.length; i++) {
      if (i === warm) getHeapStatistics();
      const event = events[i] as (typeof events)[number];
      verify(event.headers, event.body);
      if (!parseScalekitEvent(JSON.parse(utf8.decode(event.body))).success)
        throw new Error('an event failed the schema');
    }
    getHeapStatistics();
    return;
  }
  const receiver = createScalekitWebhookReceiver({
    engine: createEngine({ store: memoryStore(), handlers: createMapHandlers().handlers }),
    secret,
  });
  // As engine-inprocess.ts: one delivery awaited after another.
  for (let i = 0; i < events.length; i++) {
    if (i === warm) getHeapStatistics();
    const response = await receiver.receive(events[i] as (typeof events)[number]);
    if (response.status !== 200 || !('status' in response.body) || response.body.status !== 'applied') {
      throw new Error(`an event was not applied: ${JSON.stringify(response)}`);
    }
  }
  getHeapStatistics();
}

// Run as a script (by the driver, under valgrind); imported, it only names its scenarios.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
