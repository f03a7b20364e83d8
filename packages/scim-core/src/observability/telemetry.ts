/**
 * OpenTelemetry, without depending on it. The app passes its own `@opentelemetry/api` module
 * (`telemetry: { api }`); scim-sync never imports it, so nothing is loaded, and nothing happens,
 * without it, and ESM and CommonJS apps work alike. The interfaces below are the few members of that
 * module the library calls, written out so that the real module fits them as is.
 *
 * Everything is resolved once, when the engine is created: with no `telemetry` option the engine and
 * the routes pick their plain code paths at creation, and pay nothing per event.
 */
import type { Logger } from './logger.js';

/** An attribute's value, as OpenTelemetry takes them. */
export type TelemetryAttributeValue = string | number | boolean;
export type TelemetryAttributes = Record<string, TelemetryAttributeValue | undefined>;

/** OpenTelemetry's `Context`: opaque here, only passed back to the API. */
export interface TelemetryContext {
  getValue(key: symbol): unknown;
}

/** The members of OpenTelemetry's `Span` the library calls. */
export interface TelemetrySpan {
  setAttribute(key: string, value: TelemetryAttributeValue): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: Error | string): void;
  end(): void;
}

/** The members of OpenTelemetry's `Tracer` the library calls. */
export interface TelemetryTracer {
  startSpan(
    name: string,
    options?: { kind?: number; attributes?: TelemetryAttributes },
    context?: TelemetryContext,
  ): TelemetrySpan;
}

export interface TelemetryCounter {
  add(value: number, attributes?: TelemetryAttributes): void;
}
export interface TelemetryHistogram {
  record(value: number, attributes?: TelemetryAttributes): void;
}
export interface TelemetryObservableResult {
  observe(value: number, attributes?: TelemetryAttributes): void;
}
export interface TelemetryObservable {
  addCallback(callback: (result: TelemetryObservableResult) => void | Promise<void>): void;
}
export interface TelemetryInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** The members of OpenTelemetry's `Meter` the library calls. */
export interface TelemetryMeter {
  createCounter(name: string, options?: TelemetryInstrumentOptions): TelemetryCounter;
  createHistogram(name: string, options?: TelemetryInstrumentOptions): TelemetryHistogram;
  createObservableGauge(name: string, options?: TelemetryInstrumentOptions): TelemetryObservable;
}

/** The members of the `@opentelemetry/api` module the library calls: pass the module itself. */
export interface OpenTelemetryApi {
  trace: {
    getTracer(name: string, version?: string): TelemetryTracer;
    setSpan(context: TelemetryContext, span: TelemetrySpan): TelemetryContext;
  };
  context: {
    active(): TelemetryContext;
    with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
      context: TelemetryContext,
      fn: F,
      thisArg?: ThisParameterType<F>,
      ...args: A
    ): ReturnType<F>;
  };
  metrics: {
    getMeter(name: string, version?: string): TelemetryMeter;
  };
}

/**
 * The `telemetry` option: `{ api }` with `import * as api from '@opentelemetry/api'`. Spans and
 * metrics go to the tracer and meter providers registered with that API (the OpenTelemetry SDK's
 * `NodeSDK` registers them), or to `tracer` and `meter` when given.
 */
export interface TelemetryOptions {
  api: OpenTelemetryApi;
  /** Default `api.trace.getTracer('@org/scim-core')`. */
  tracer?: TelemetryTracer;
  /** Default `api.metrics.getMeter('@org/scim-core')`. */
  meter?: TelemetryMeter;
}

/** `SpanStatusCode.ERROR` and `SpanKind.INTERNAL`: stable numbers of the OpenTelemetry API. */
export const SPAN_STATUS_ERROR = 2;

export const INSTRUMENTATION_SCOPE = '@org/scim-core';

/** Every outcome the events counter counts. */
export type EventMetricOutcome = 'applied' | 'duplicate' | 'stale' | 'ignored' | 'in_flight' | 'failed';

/** The instruments, created once per engine. */
export interface Instruments {
  readonly api: OpenTelemetryApi;
  readonly tracer: TelemetryTracer;
  /** `scim_sync.events`: events by outcome and source. */
  readonly events: TelemetryCounter;
  /** `scim_sync.handler.duration`: seconds per handler call. */
  readonly handlerDuration: TelemetryHistogram;
  /** `scim_sync.reconcile.duration`: seconds per reconciliation or backfill run. */
  readonly runDuration: TelemetryHistogram;
  readonly meter: TelemetryMeter;
}

/** Bucket bounds for handler and run durations, in seconds (handlers take µs to seconds). */
const HANDLER_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600];

/** Creates the instruments of `options`, or nothing without it. */
export function createInstruments(options: TelemetryOptions | undefined): Instruments | undefined {
  if (options === undefined) return undefined;
  const { api } = options;
  const tracer = options.tracer ?? api.trace.getTracer(INSTRUMENTATION_SCOPE);
  const meter = options.meter ?? api.metrics.getMeter(INSTRUMENTATION_SCOPE);
  return {
    api,
    tracer,
    meter,
    events: meter.createCounter('scim_sync.events', {
      description: 'Directory events the engine was given, by outcome and source.',
      unit: '{event}',
    }),
    handlerDuration: meter.createHistogram('scim_sync.handler.duration', {
      description: "Time spent in one call of one of the app's handlers.",
      unit: 's',
      advice: { explicitBucketBoundaries: HANDLER_BUCKETS },
    }),
    runDuration: meter.createHistogram('scim_sync.reconcile.duration', {
      description: 'Duration of one reconciliation or backfill run.',
      unit: 's',
      advice: { explicitBucketBoundaries: RUN_BUCKETS },
    }),
  };
}

/** A span started under `parent` (or the active context), and the context that has it as parent. */
export interface StartedSpan {
  readonly span: TelemetrySpan;
  readonly context: TelemetryContext;
}

export function startSpan(
  instruments: Instruments,
  name: string,
  attributes: TelemetryAttributes,
  parent: TelemetryContext | undefined,
): StartedSpan {
  const { api } = instruments;
  const base = parent ?? api.context.active();
  const span = instruments.tracer.startSpan(name, { attributes }, base);
  return { span, context: api.trace.setSpan(base, span) };
}

/** Marks a span failed with `error` (OpenTelemetry's `error.type`: the error's code, else its class). */
export function failSpan(span: TelemetrySpan, error: unknown): void {
  span.setAttribute('error.type', errorType(error));
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SPAN_STATUS_ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** A low-cardinality name for an error: its string `code` when it has one, else its class name. */
export function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.length <= 64) return code;
  return error instanceof Error ? error.name : '_OTHER';
}

/**
 * What the engine shares with the routes and the reconciler built on it: the same instruments and
 * logger, without the app passing them twice. Keyed by the engine object; never part of its type.
 */
export interface EngineObservability {
  readonly instruments: Instruments | undefined;
  readonly logger: Logger;
  /** `engine.process` under an explicit parent span context (the receive span), when tracing. */
  readonly processWithin?: (
    event: Parameters<import('../engine/engine.js').ProvisioningEngine['process']>[0],
    parent: TelemetryContext,
  ) => ReturnType<import('../engine/engine.js').ProvisioningEngine['process']>;
  /** `engine.processBatch` under `parent`. */
  readonly processBatchWithin?: (
    events: readonly Parameters<import('../engine/engine.js').ProvisioningEngine['process']>[0][],
    parent: TelemetryContext,
  ) => Promise<Awaited<ReturnType<import('../engine/engine.js').ProvisioningEngine['process']>>[]>;
}

const registry = new WeakMap<object, EngineObservability>();

export function registerObservability(engine: object, observability: EngineObservability): void {
  registry.set(engine, observability);
}

/** The engine's instruments and logger; an engine of another make has neither. */
export function observabilityOf(engine: object): EngineObservability | undefined {
  return registry.get(engine);
}
