/**
 * A reconciliation with telemetry, through the real `@scalekit-sdk/node` client against the fake
 * Scalekit: its spans (the real OpenTelemetry SDK's in-memory exporter), its duration metric, and
 * the summary `engine.health()` reads back from the store.
 */
import * as api from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createEngine, createReconciler, memoryStore, scalekitDirectorySource } from '@org/scim-core';
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
