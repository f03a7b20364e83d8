/**
 * What one request costs the process that answers it: the longest event-loop delay
 * (`perf_hooks.monitorEventLoopDelay`) and the growth of RSS and heap between a mark and a read.
 *
 * Server side: `createLoopProbe()` and `handleProbeRoute(probe, req, res)` in a `node:http` server,
 * which answers `POST /bench/probe/mark` and `GET /bench/probe/read`. Load side: `probed(port, send)`
 * marks, runs one request, and reads, so the reading covers that request alone (sequential load).
 *
 * - **Event-loop delay**: the histogram's timer fires every `resolutionMs`; a request that holds the
 *   loop for 300 ms makes one interval of about 300 ms. `maxDelayMs` is the longest interval since
 *   the mark minus `resolutionMs` (the part of it the loop was blocked beyond the timer's own
 *   period). `monitorEventLoopDelay` drops the first interval after a `reset()`, so the mark answers
 *   only once the timer has fired again (three periods later).
 * - **CPU**: `process.cpuUsage()` from the mark (once primed) to the read, before its wait: what the
 *   request cost the process even when other load on the machine stretched its wall time.
 * - **Memory**: `gc()` (when the process runs with `--expose-gc`) before the mark, then
 *   `process.memoryUsage()` sampled every `sampleEveryMs` while the loop is free, and once more at
 *   the read; growth = the highest sample since the mark minus the value at the mark. A loop held
 *   for seconds takes no sample meanwhile, but what it allocated is still held at the next one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const PROBE_MARK_PATH = '/bench/probe/mark';
export const PROBE_READ_PATH = '/bench/probe/read';

export interface ProbeReading {
  /** Longest event-loop delay since the mark, in ms beyond the timer's period. */
  maxDelayMs: number;
  /** The timer's period (the histogram's resolution), ms. */
  resolutionMs: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  heapBeforeMb: number;
  heapPeakMb: number;
  /** Peak RSS since the mark minus RSS at the mark. */
  rssGrowthMb: number;
  /** Peak `heapUsed` since the mark minus `heapUsed` at the mark (after a `gc()` where exposed). */
  heapGrowthMb: number;
  /** CPU time (user + system, all threads) the process used between the mark and the read, ms. */
  cpuMs: number;
  /** Memory samples taken since the mark. */
  samples: number;
}

export interface LoopProbe {
  /** `gc()` if exposed, resets the histogram and the memory peaks; resolves once the timer is primed. */
  mark(): Promise<void>;
  /** Waits for the timer to fire after the work (so the interval it blocked is recorded), then reads. */
  read(): Promise<ProbeReading>;
  stop(): void;
}

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createLoopProbe({ resolutionMs = 5, sampleEveryMs = 10 } = {}): LoopProbe {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  let before = process.memoryUsage();
  let rssPeak = before.rss;
  let heapPeak = before.heapUsed;
  let samples = 0;
  let cpu = process.cpuUsage();
  const sample = () => {
    const now = process.memoryUsage();
    if (now.rss > rssPeak) rssPeak = now.rss;
    if (now.heapUsed > heapPeak) heapPeak = now.heapUsed;
    samples += 1;
  };
  const sampler = setInterval(sample, sampleEveryMs);
  sampler.unref();
  const gc = (globalThis as { gc?: () => void }).gc;
  return {
    async mark() {
      gc?.();
      before = process.memoryUsage();
      rssPeak = before.rss;
      heapPeak = before.heapUsed;
      samples = 0;
      histogram.reset();
      await sleep(3 * resolutionMs);
      cpu = process.cpuUsage();
    },
    async read() {
      const used = process.cpuUsage(cpu);
      await sleep(3 * resolutionMs);
      sample();
      const max = histogram.count > 0 ? histogram.max / 1e6 : 0;
      return {
        maxDelayMs: Math.max(0, max - resolutionMs),
        resolutionMs,
        rssBeforeMb: before.rss / MB,
        rssPeakMb: rssPeak / MB,
        heapBeforeMb: before.heapUsed / MB,
        heapPeakMb: heapPeak / MB,
        rssGrowthMb: (rssPeak - before.rss) / MB,
        heapGrowthMb: (heapPeak - before.heapUsed) / MB,
        cpuMs: (used.user + used.system) / 1000,
        samples,
      };
    },
    stop() {
      clearInterval(sampler);
      histogram.disable();
    },
  };
}

/** Answers the probe's two routes; returns false (and does nothing) for any other request. */
export function handleProbeRoute(probe: LoopProbe, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '').split('?')[0];
  if (path === PROBE_MARK_PATH && req.method === 'POST') {
    req.resume();
    probe.mark().then(
      () => res.writeHead(204).end(),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
    return true;
  }
  if (path === PROBE_READ_PATH && req.method === 'GET') {
    probe.read().then(
      (reading) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reading)),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
    return true;
  }
  return false;
}

/**
 * Marks the server on `port` (127.0.0.1), runs `send` (one request to it), and reads what that
 * request cost the server. Mark and read are bounded by `timeoutMs` each; `send` bounds itself.
 */
export async function probed<T>(
  port: number,
  send: () => Promise<T>,
  timeoutMs = 60_000,
): Promise<{ result: T; reading: ProbeReading }> {
  const base = `http://127.0.0.1:${port}`;
  const mark = await fetch(`${base}${PROBE_MARK_PATH}`, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
  await mark.arrayBuffer();
  if (!mark.ok) throw new Error(`probe mark answered ${mark.status}`);
  const result = await send();
  const read = await fetch(`${base}${PROBE_READ_PATH}`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!read.ok) throw new Error(`probe read answered ${read.status}`);
  return { result, reading: (await read.json()) as ProbeReading };
}
