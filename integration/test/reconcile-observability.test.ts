/**
 * A reconciliation and a backfill with telemetry, through the real `@scalekit-sdk/node` client
 * against the fake Scalekit: their spans (the real OpenTelemetry SDK's in-memory exporter), their
 * duration metric, and the summary `engine.health()` reads back from the store.
 */
import * as api from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  createBackfiller,
  createEngine,
  createReconciler,
  memoryStore,
  scalekitDirectorySource,
  scalekitEventSource,
} from '@org/scim-core';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterEach, expect, it } from 'vitest';

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

let fake: FakeScalekit | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

it('a reconciliation is one trace: the run, a span per listed page, and the engine events of each page under it', async () => {
  fake = await startFakeScalekit();
  const organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
  fake.addDirectory(organizationId);
  fake.seed(organizationId, { users: 120, groups: 2 });

  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
  const reader = new CollectingReader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
  const engine = createEngine({
    store: memoryStore(),
    handlers: { userCreated: () => {} },
    telemetry: { api, tracer, meter },
  });
  const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
  const report = await createReconciler({ engine, source: scalekitDirectorySource(client), pageSize: 50 }).reconcile(
    organizationId,
  );
  expect(report.status).toBe('completed');

  const spans = exporter.getFinishedSpans();
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const parent = (s: ReadableSpan) => byId.get(s.parentSpanContext?.spanId ?? '');
  const named = (name: string) => spans.filter((s) => s.name === name);

  const [run] = named('scim_sync.reconcile');
  expect(named('scim_sync.reconcile')).toHaveLength(1);
  expect(run?.attributes).toMatchObject({
    'scim_sync.organization.id': organizationId,
    'scim_sync.run.kind': 'reconciliation',
    'scim_sync.run.status': 'completed',
  });
  const pages = named('scim_sync.reconcile.page');
  expect(pages).toHaveLength(report.pages);
  expect(pages.every((page) => parent(page) === run)).toBe(true);
  const processed = named('scim_sync.process');
  expect(processed).toHaveLength(report.events);
  expect(processed.every((p) => parent(p)?.name === 'scim_sync.reconcile.page')).toBe(true);
  expect(processed.every((p) => p.attributes['scim_sync.event.source'] === 'reconciliation')).toBe(true);
  expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);

  const { resourceMetrics } = await reader.collect();
  const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  const duration = metrics.find((m) => m.descriptor.name === 'scim_sync.reconcile.duration');
  expect(duration?.dataPoints.map((p) => [p.attributes, (p.value as { count: number }).count])).toEqual([
    [{ 'scim_sync.run.kind': 'reconciliation', 'scim_sync.run.status': 'completed' }, 1],
  ]);

  const health = await engine.health(organizationId);
  expect(health.reconciliation).toMatchObject({
    running: false,
    last: { kind: 'reconciliation', status: 'completed', pages: report.pages },
  });
  expect(health.reconciliation.last?.counts).toMatchObject({
    'users.created': report.users.created,
    'groups.created': report.groups.created,
    events: report.events,
  });
});

it('a backfill is one trace too: the run, a span per page of the event log, and the engine events of each page under it', async () => {
  let clock = Date.parse('2026-03-01T12:00:00Z');
  fake = await startFakeScalekit({ now: () => clock });
  const organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
  fake.addDirectory(organizationId);
  // Every webhook of these changes is lost: the backfill is what brings them.
  const outage = fake.webhooks.refuseFor(60 * 60_000);
  fake.upsertGroup(organizationId, { id: 'dirgroup_eng', displayName: 'Engineering' });
  for (const n of [1, 2, 3, 4, 5]) {
    clock += 5_000;
    fake.upsertUser(organizationId, { id: `diruser_${n}`, email: `u${n}@acme.test`, groups: ['dirgroup_eng'] });
  }
  clock = outage.until + 60_000;

  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
  const reader = new CollectingReader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
  const engine = createEngine({ store: memoryStore(), telemetry: { api, tracer, meter }, now: () => clock });
  const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
  const report = await createBackfiller({
    engine,
    source: scalekitEventSource(client),
    pageSize: 2,
    now: () => clock,
  }).backfill(organizationId, { since: new Date(Date.parse('2026-03-01T11:00:00Z')) });
  expect(report).toMatchObject({ status: 'completed', listed: 6 });
  expect(report.outcomes.applied).toBe(6);

  const spans = exporter.getFinishedSpans();
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const parent = (s: ReadableSpan) => byId.get(s.parentSpanContext?.spanId ?? '');
  const named = (name: string) => spans.filter((s) => s.name === name);
  const runs = named('scim_sync.backfill');
  expect(runs).toHaveLength(1);
  expect(runs[0]?.attributes).toMatchObject({
    'scim_sync.organization.id': organizationId,
    'scim_sync.run.kind': 'backfill',
    'scim_sync.run.status': 'completed',
  });
  const pages = named('scim_sync.backfill.page');
  expect(pages).toHaveLength(report.pages);
  expect(pages.every((page) => parent(page) === runs[0])).toBe(true);
  const processed = named('scim_sync.process');
  expect(processed).toHaveLength(report.listed);
  expect(processed.every((p) => parent(p)?.name === 'scim_sync.backfill.page')).toBe(true);
  expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);

  const { resourceMetrics } = await reader.collect();
  const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  const duration = metrics.find((m) => m.descriptor.name === 'scim_sync.reconcile.duration');
  expect(duration?.dataPoints.map((p) => p.attributes)).toEqual([
    { 'scim_sync.run.kind': 'backfill', 'scim_sync.run.status': 'completed' },
  ]);
  const health = await engine.health(organizationId);
  expect(health.backfill).toMatchObject({ running: false, last: { kind: 'backfill', status: 'completed' } });
});
