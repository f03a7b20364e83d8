/**
 * Spans and the duration metric of a reconciliation or backfill run: a `scim_sync.reconcile` or
 * `scim_sync.backfill` span for the run, a `….page` span per listed page (its engine events under
 * it), and `scim_sync.reconcile.duration` at the end. Without telemetry, each call is the plain one.
 */
import type { ProcessResult, ProvisioningEngine } from '../engine/engine.js';
import type { IncomingEvent } from '../model.js';
import type { RunKind } from './run-summary.js';
import { failSpan, observabilityOf, startSpan, type TelemetryContext } from './telemetry.js';

export interface RunObservation {
  /** Lists one page (`list`) in a page span; engine events processed until the next page go under it. */
  page<T>(index: number, list: () => Promise<T>): Promise<T>;
  /**
   * Lists one page in its span, ahead of its turn: engine events go under it only from
   * `enter(index)` on (a run that lists the next page while it applies this one).
   */
  listAhead<T>(index: number, list: () => Promise<T>): Promise<T>;
  /** Engine events from now on go under the span of page `index`, listed by `listAhead`; the page before it ends. */
  enter(index: number): void;
  /** `engine.process`, under the current page's span when tracing. */
  process(event: IncomingEvent): Promise<ProcessResult>;
  /**
   * `engine.processBatch` (under the current page's span when tracing), or `engine.process` of each
   * event in turn for an engine without it.
   */
  processBatch(events: readonly IncomingEvent[]): Promise<ProcessResult[]>;
  /** Ends the run's span and records its duration, by status. */
  end(status: string, error?: unknown): void;
}

const SPAN_NAMES = {
  reconciliation: { run: 'scim_sync.reconcile', page: 'scim_sync.reconcile.page' },
  backfill: { run: 'scim_sync.backfill', page: 'scim_sync.backfill.page' },
} as const;

/** A factory of run observations for the runs of `engine`. */
export function observeRun(engine: ProvisioningEngine): (kind: RunKind, organizationId: string) => RunObservation {
  const observability = observabilityOf(engine);
  const instruments = observability?.instruments;
  if (instruments === undefined) {
    return () => ({
      page: (_index, list) => list(),
      listAhead: (_index, list) => list(),
      enter: () => {},
      process: (event) => engine.process(event),
      processBatch: (events) => inBatch(engine, events),
      end: () => {},
    });
  }
  return (kind, organizationId) => {
    const names = SPAN_NAMES[kind];
    const started = performance.now();
    const attributes = { 'scim_sync.organization.id': organizationId, 'scim_sync.run.kind': kind };
    const run = startSpan(instruments, names.run, attributes, undefined);
    let pageSpan: { end(): void } | undefined;
    let pageContext: TelemetryContext = run.context;
    /** Pages listed ahead and not entered yet, by index. */
    const ahead = new Map<number, ReturnType<typeof startSpan>>();
    const listed = async <T>(page: ReturnType<typeof startSpan>, list: () => Promise<T>) => {
      try {
        return await list();
      } catch (error) {
        failSpan(page.span, error);
        throw error;
      }
    };
    const pageSpanOf = (index: number) =>
      startSpan(instruments, names.page, { ...attributes, 'scim_sync.page.index': index }, run.context);
    return {
      page(index, list) {
        pageSpan?.end();
        const page = pageSpanOf(index);
        pageSpan = page.span;
        pageContext = page.context;
        return listed(page, list);
      },
      listAhead(index, list) {
        const page = pageSpanOf(index);
        ahead.set(index, page);
        return listed(page, list);
      },
      enter(index) {
        const page = ahead.get(index);
        if (!page) return;
        ahead.delete(index);
        pageSpan?.end();
        pageSpan = page.span;
        pageContext = page.context;
      },
      process(event) {
        return observability?.processWithin ? observability.processWithin(event, pageContext) : engine.process(event);
      },
      processBatch(events) {
        return observability?.processBatchWithin
          ? observability.processBatchWithin(events, pageContext)
          : inBatch(engine, events);
      },
      end(status, error) {
        pageSpan?.end();
        pageSpan = undefined;
        for (const page of ahead.values()) page.span.end();
        ahead.clear();
        run.span.setAttribute('scim_sync.run.status', status);
        if (error !== undefined) failSpan(run.span, error);
        run.span.end();
        instruments.runDuration.record((performance.now() - started) / 1000, {
          'scim_sync.run.kind': kind,
          'scim_sync.run.status': status,
        });
      },
    };
  };
}

/** `engine.processBatch`, or, for an engine without it, `engine.process` of each event in turn. */
async function inBatch(engine: ProvisioningEngine, events: readonly IncomingEvent[]): Promise<ProcessResult[]> {
  if (engine.processBatch) return engine.processBatch(events);
  const results: ProcessResult[] = [];
  for (const event of events) results.push(await engine.process(event));
  return results;
}
