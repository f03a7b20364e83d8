/**
 * Observability over real HTTP: the spans of one webhook delivery (the real OpenTelemetry SDK's
 * in-memory exporter), the outcome counters and handler latency (the SDK's metric reader), a failing
 * handler marked as an error, the `logger` option in place of the console, and `engine.health()`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as api from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createEngine,
  createScalekitWebhookReceiver,
  type EngineOptions,
  HealthInputError,
  type InboxStatsSource,
  type IncomingEvent,
  type Logger,
  memoryStore,
  type ProvisioningHandlers,
  receiveNodeRequest,
  signWebhook,
  writeNodeResponse,
} from '../src/index.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const ORG = 'org_53879494091473415';
const ENV = 'env_53814739859406915';

/** A Scalekit `user_updated` event; `n` varies the event id and the user. */
function userEvent(id: string, occurredAt: string, userId = 'diruser_1') {
  return {
    spec_version: '1',
    id,
    type: 'organization.directory.user_updated',
    occurred_at: occurredAt,
    environment_id: ENV,
    organization_id: ORG,
    object: 'DirectoryUser',
    data: {
      id: userId,
      organization_id: ORG,
      preferred_username: 'john',
      email: 'john.doe@example.com',
      active: true,
      roles: [],
      groups: [],
    },
  };
}

/** Collects on demand: the SDK's reader without a timer. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

interface Point {
  attributes: Record<string, unknown>;
  value: unknown;
}

async function points(reader: CollectingReader, name: string): Promise<Point[]> {
  const { resourceMetrics } = await reader.collect();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === name) {
        return metric.dataPoints.map((p) => ({ attributes: { ...p.attributes }, value: p.value }));
      }
    }
  }
  return [];
}

function recordingLogger() {
  const lines: { level: keyof Logger; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const at =
    (level: keyof Logger) =>
    (obj: Record<string, unknown>, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The engine and its webhook route on a real HTTP server on 127.0.0.1, with telemetry to the SDK. */
async function setup(handlers: ProvisioningHandlers, extra: Partial<EngineOptions> = {}) {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const { logger, lines } = recordingLogger();
  let clock = Date.parse('2026-01-01T00:00:10Z');
  const engine = createEngine({
    store: memoryStore(),
    handlers,
    logger,
    now: () => clock,
    telemetry: { api, tracer: tracerProvider.getTracer('test'), meter: meterProvider.getMeter('test') },
    ...extra,
  });
  const receiver = createScalekitWebhookReceiver({ engine, secret, now: () => clock });
  const server = createServer((request, response) => {
    receiveNodeRequest(receiver, { request }).then(
      (answer) => writeNodeResponse(response, answer),
      () => response.writeHead(500).end(),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const send = async (event: { id: string }) => {
    const body = JSON.stringify(event);
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/scalekit`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signWebhook({ secret, id: event.id, payload: body, timestamp: Math.floor(clock / 1000) }),
      },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return {
    engine,
    exporter,
    reader,
    lines,
    send,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** Each finished span's name with its parent's name. */
function tree(spans: readonly ReadableSpan[]): [string, string | undefined][] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  return spans
    .map((s): [string, string | undefined] => [s.name, byId.get(s.parentSpanContext?.spanId ?? '')?.name])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('OpenTelemetry spans, over real HTTP', () => {
  it('one applied webhook event is one tree: receive → verify and process → claim and apply → transaction → each handler', async () => {
    const t = await setup({ userCreated: () => {}, membershipAdded: () => {} });
    const answer = await t.send(userEvent('evt_1', '2026-01-01T00:00:09Z'));
    expect(answer).toMatchObject({ status: 200, body: { status: 'applied', handlers: ['userCreated'] } });

    const spans = t.exporter.getFinishedSpans();
    expect(tree(spans)).toEqual([
      ['scim_sync.apply', 'scim_sync.process'],
      ['scim_sync.claim', 'scim_sync.process'],
      ['scim_sync.handler userCreated', 'scim_sync.transaction'],
      ['scim_sync.process', 'scim_sync.receive'],
      ['scim_sync.receive', undefined],
      ['scim_sync.transaction', 'scim_sync.apply'],
      ['scim_sync.verify', 'scim_sync.receive'],
    ]);
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const process = spans.find((s) => s.name === 'scim_sync.process') as ReadableSpan;
    expect(process.attributes).toMatchObject({
      'scim_sync.event.id': 'evt_1',
      'scim_sync.event.type': 'user.upserted',
      'scim_sync.event.source': 'scalekit',
      'scim_sync.organization.id': ORG,
      'scim_sync.outcome': 'applied',
    });
    const receive = spans.find((s) => s.name === 'scim_sync.receive') as ReadableSpan;
    expect(receive.attributes).toMatchObject({ 'http.response.status_code': 200, 'scim_sync.outcome': 'applied' });
    expect(spans.every((s) => s.status.code !== api.SpanStatusCode.ERROR)).toBe(true);
  });

  it('a failing handler marks its span, the process and the receive span as errors, with the cause recorded', async () => {
    const t = await setup({
      userCreated: () => {
        throw new Error('the app database is down');
      },
    });
    const answer = await t.send(userEvent('evt_fail', '2026-01-01T00:00:09Z'));
    expect(answer.status).toBe(500);

    const spans = t.exporter.getFinishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name) as ReadableSpan;
    const handler = byName('scim_sync.handler userCreated');
    expect(handler.status).toMatchObject({ code: api.SpanStatusCode.ERROR, message: 'the app database is down' });
    expect(handler.events.map((e) => e.name)).toContain('exception');
    expect(byName('scim_sync.process').status.code).toBe(api.SpanStatusCode.ERROR);
    expect(byName('scim_sync.process').attributes).toMatchObject({
      'scim_sync.outcome': 'failed',
      'error.type': 'handler_failed',
    });
    expect(byName('scim_sync.receive').status.code).toBe(api.SpanStatusCode.ERROR);
    expect(byName('scim_sync.receive').attributes['error.type']).toBe('handler_failed');
    // The 5xx reached the logger with its cause, not the console.
    const errors = t.lines.filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.obj).toMatchObject({ status: 500, code: 'handler_failed' });
    expect(String((errors[0]?.obj.err as Error | undefined)?.cause)).toContain('the app database is down');
  });

  it('refuses an event without a key as invalid_event, with telemetry too, and opens no span for it', async () => {
    const { engine, exporter } = await setup({});
    for (const hostile of [null, 'evt_1', { type: 'other', id: 42 }] as unknown as IncomingEvent[]) {
      await expect(engine.process(hostile)).rejects.toMatchObject({ name: 'EngineError', code: 'invalid_event' });
      await expect(engine.processBatch?.([hostile])).rejects.toMatchObject({ code: 'invalid_event' });
    }
    expect(exporter.getFinishedSpans().filter((span) => span.name === 'scim_sync.process')).toEqual([]);
  });

  it('a bad signature is a 401 with a failed verify span and no process span', async () => {
    const t = await setup({});
    const event = userEvent('evt_forged', '2026-01-01T00:00:09Z');
    const body = JSON.stringify(event);
    const headers = signWebhook({ secret: `whsec_${randomBytes(32).toString('base64')}`, id: event.id, payload: body });
    const server = servers[0] as Server;
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/scalekit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    expect(response.status).toBe(401);
    const names = t.exporter.getFinishedSpans().map((s) => [s.name, s.status.code]);
    expect(names).toEqual([
      ['scim_sync.verify', api.SpanStatusCode.ERROR],
      ['scim_sync.receive', api.SpanStatusCode.UNSET],
    ]);
  });
});

describe('OpenTelemetry metrics', () => {
  it('counts events by outcome and source, and records each handler call', async () => {
    let fail = false;
    const t = await setup({
      userCreated: () => {},
      userUpdated: () => {
        if (fail) throw new Error('boom');
      },
    });
    expect((await t.send(userEvent('evt_a', '2026-01-01T00:00:05Z'))).body.status).toBe('applied');
    expect((await t.send(userEvent('evt_a', '2026-01-01T00:00:05Z'))).body.status).toBe('duplicate');
    expect((await t.send(userEvent('evt_old', '2026-01-01T00:00:01Z'))).body.status).toBe('stale');
    fail = true;
    const newer = {
      ...userEvent('evt_b', '2026-01-01T00:00:08Z'),
      data: { ...userEvent('x', 'y').data, email: 'j@x.io' },
    };
    expect((await t.send(newer)).status).toBe(500);

    const events = await points(t.reader, 'scim_sync.events');
    const count = (outcome: string) =>
      events.find(
        (p) => p.attributes['scim_sync.outcome'] === outcome && p.attributes['scim_sync.event.source'] === 'scalekit',
      )?.value;
    expect(count('applied')).toBe(1);
    expect(count('duplicate')).toBe(1);
    expect(count('stale')).toBe(1);
    expect(count('failed')).toBe(1);
    expect(count('ignored')).toBeUndefined();

    const durations = await points(t.reader, 'scim_sync.handler.duration');
    const calls = (handler: string, outcome: string) =>
      (
        durations.find((p) => p.attributes['scim_sync.handler'] === handler && p.attributes.outcome === outcome)
          ?.value as { count: number } | undefined
      )?.count;
    expect(calls('userCreated', 'ok')).toBe(1);
    expect(calls('userUpdated', 'error')).toBe(1);
  });

  it('reads the inbox for the depth and dead-letter gauges when the meter collects', async () => {
    const asked: (string | undefined)[] = [];
    const inbox: InboxStatsSource = {
      async stats(organizationId) {
        asked.push(organizationId);
        return { depth: 7, deadLetters: 2 };
      },
    };
    const t = await setup({}, { inbox });
    expect((await points(t.reader, 'scim_sync.inbox.depth'))[0]?.value).toBe(7);
    expect((await points(t.reader, 'scim_sync.inbox.dead_letters'))[0]?.value).toBe(2);
    expect(asked.every((organizationId) => organizationId === undefined)).toBe(true);
  });
});

describe('the logger option', () => {
  it('a receiver with no logger and no onError sends its 5xx to the engine logger, never to the console', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { logger, lines } = recordingLogger();
      const engine = createEngine({
        store: memoryStore(),
        logger,
        handlers: {
          userCreated: () => {
            throw new Error('nope');
          },
        },
      });
      const receiver = createScalekitWebhookReceiver({ engine, secret });
      const body = JSON.stringify(userEvent('evt_log', new Date().toISOString()));
      const answer = await receiver.receive({ headers: signWebhook({ secret, id: 'evt_log', payload: body }), body });
      expect(answer.status).toBe(500);
      expect(lines.map((l) => [l.level, l.obj.code])).toEqual([['error', 'handler_failed']]);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('without a logger, a 5xx still reaches stderr (the default keeps what the library printed before)', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const engine = createEngine({
        store: memoryStore(),
        handlers: {
          userCreated: () => {
            throw new Error('nope');
          },
        },
      });
      const receiver = createScalekitWebhookReceiver({ engine, secret });
      const body = JSON.stringify(userEvent('evt_log2', new Date().toISOString()));
      await receiver.receive({ headers: signWebhook({ secret, id: 'evt_log2', payload: body }), body });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]?.[0])).toContain('webhook 500 handler_failed');
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a logger without the four methods, at creation', () => {
    expect(() => createEngine({ store: memoryStore(), logger: { info() {} } as unknown as Logger })).toThrow(
      /options\.logger has no debug, warn, error method/,
    );
  });
});

describe('engine.health()', () => {
  it('reports the last event received and applied with its lag, and failures of the last 24 hours', async () => {
    let fail = false;
    const t = await setup({
      userCreated: () => {},
      userUpdated: () => {
        if (fail) throw new Error('the app database is down');
      },
    });
    const empty = await t.engine.health(ORG);
    expect(empty).toMatchObject({ organizationId: ORG, supported: true, webhooks: {}, failures: { last24h: 0 } });
    expect(empty.reconciliation).toEqual({ running: false });

    await t.send(userEvent('evt_1', '2026-01-01T00:00:07.5Z'));
    t.advance(1_000);
    await t.send(userEvent('evt_old', '2026-01-01T00:00:01Z'));
    let health = await t.engine.health(ORG);
    expect(health.webhooks).toEqual({
      lastReceived: { eventId: 'evt_old', at: '2026-01-01T00:00:11.000Z', outcome: 'stale' },
      lastApplied: { eventId: 'evt_1', at: '2026-01-01T00:00:10.000Z', occurredAt: '2026-01-01T00:00:07.5Z' },
      lagMs: 2_500,
    });

    fail = true;
    const changed = {
      ...userEvent('evt_2', '2026-01-01T00:00:10Z'),
      data: { ...userEvent('x', 'y').data, email: 'j@x.io' },
    };
    expect((await t.send(changed)).status).toBe(500);
    health = await t.engine.health(ORG);
    expect(health.failures.last24h).toBe(1);
    expect(health.failures.last).toMatchObject({ eventId: 'evt_2', source: 'scalekit', code: 'handler_failed' });
    expect(health.webhooks.lastApplied?.eventId).toBe('evt_1');

    t.advance(24 * 60 * 60 * 1000 + 1);
    expect((await t.engine.health(ORG)).failures).toEqual({ last24h: 0 });
    // Another organization sees none of it.
    expect(await t.engine.health('org_other')).toMatchObject({ webhooks: {}, failures: { last24h: 0 } });
  });

  it('passes the inbox counts for the organization through', async () => {
    const asked: (string | undefined)[] = [];
    const inbox: InboxStatsSource = {
      async stats(organizationId) {
        asked.push(organizationId);
        return { depth: 3, deadLetters: 1, oldestQueuedAt: Date.parse('2026-01-01T00:00:00Z') };
      },
    };
    const engine = createEngine({ store: memoryStore(), inbox });
    expect((await engine.health(ORG)).inbox).toEqual({
      depth: 3,
      deadLetters: 1,
      oldestQueuedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(asked).toEqual([ORG]);
  });

  it('refuses an organization id that cannot be one', async () => {
    const engine = createEngine({ store: memoryStore() });
    await expect(engine.health('')).rejects.toBeInstanceOf(HealthInputError);
    await expect(engine.health('x'.repeat(257))).rejects.toBeInstanceOf(HealthInputError);
    await expect(engine.health(42 as unknown as string)).rejects.toBeInstanceOf(HealthInputError);
  });
});
