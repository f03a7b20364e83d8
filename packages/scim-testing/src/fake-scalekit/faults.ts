/**
 * Faults armed on demand: each answers the next `times` matching gRPC calls, then disarms. They run
 * after authentication, so a token refresh never uses one up.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { FakeScalekitError } from './errors.js';
import type { FakeScalekitStats } from './stats.js';

/** The listings that `failAfterPages` and `emptyListing` target when no `method` is given. */
const DIRECTORY_LISTINGS: readonly string[] = ['ListDirectoryUsers', 'ListDirectoryGroups'];

export interface FaultOptions {
  /** How many matching calls the fault answers before it disarms. Default 1. */
  times?: number;
  /** The gRPC method name (`ListDirectoryUsers`, `ListOrganization`, `ListEventsPaginated`, …). Omitted: any method. */
  method?: string;
}

export interface EmptyListingOptions {
  times?: number;
  /** Omitted: `ListDirectoryUsers` and `ListDirectoryGroups`. Any method answers its empty response message. */
  method?: string;
}

export interface FailAfterPagesOptions {
  /** Pages served normally, counted from when the fault is armed, before the failures start. */
  pages: number;
  /** Omitted: both directory listings, counted together. */
  method?: 'ListDirectoryUsers' | 'ListDirectoryGroups' | 'ListEventsPaginated';
  /** How many calls fail once the pages are served. Default 1. */
  times?: number;
  /** Default `internal` (the SDK does not retry it); `unavailable` is retried by the SDK. */
  code?: 'internal' | 'unavailable';
}

export interface FakeFaults {
  /** Answers `ResourceExhausted` (8): the SDK throws `ScalekitTooManyRequestsException` and does not retry. */
  rateLimit(options?: FaultOptions): void;
  /** Answers `Unavailable` (14): the SDK retries by itself with 0.5 to 4 s back-off (3 attempts in all). */
  unavailable(options?: FaultOptions): void;
  /**
   * Answers `Unauthenticated` (16), as for a revoked token: the SDK fetches a new token and retries,
   * 3 times at most, so `times: 4` makes the call reject with `ScalekitUnauthorizedException`.
   */
  unauthenticated(options?: FaultOptions): void;
  /** Serves `pages` listing pages, then fails the next `times` listing calls. */
  failAfterPages(options: FailAfterPagesOptions): void;
  /** The listing answers no users or groups and an empty `nextPageToken`, as if the directory were empty. */
  emptyListing(options?: EmptyListingOptions): void;
  /** Disarms everything. */
  clear(): void;
}

interface ArmedFault {
  kind: 'error' | 'empty';
  methods: readonly string[] | undefined;
  code: Code;
  message: string;
  remaining: number;
  pagesLeft: number;
}

function times(value: number | undefined): number {
  const n = value ?? 1;
  if (!Number.isInteger(n) || n < 1)
    throw new FakeScalekitError('invalid_input', `times must be a positive integer, got ${value}`);
  return n;
}

export class FaultRegistry implements FakeFaults {
  #armed: ArmedFault[] = [];

  rateLimit(options: FaultOptions = {}): void {
    this.#arm(
      'error',
      options.method,
      Code.ResourceExhausted,
      'rate limit exceeded (fake fault)',
      times(options.times),
    );
  }

  unavailable(options: FaultOptions = {}): void {
    this.#arm('error', options.method, Code.Unavailable, 'service unavailable (fake fault)', times(options.times));
  }

  unauthenticated(options: FaultOptions = {}): void {
    this.#arm(
      'error',
      options.method,
      Code.Unauthenticated,
      'access token is invalid or expired (fake fault)',
      times(options.times),
    );
  }

  failAfterPages(options: FailAfterPagesOptions): void {
    if (!Number.isInteger(options.pages) || options.pages < 0) {
      throw new FakeScalekitError('invalid_input', `pages must be a non-negative integer, got ${options.pages}`);
    }
    const code = options.code === 'unavailable' ? Code.Unavailable : Code.Internal;
    this.#armed.push({
      kind: 'error',
      methods: options.method ? [options.method] : DIRECTORY_LISTINGS,
      code,
      message: `listing failed after ${options.pages} pages (fake fault)`,
      remaining: times(options.times),
      pagesLeft: options.pages,
    });
  }

  emptyListing(options: EmptyListingOptions = {}): void {
    this.#armed.push({
      kind: 'empty',
      methods: options.method ? [options.method] : DIRECTORY_LISTINGS,
      code: Code.Unknown,
      message: '',
      remaining: times(options.times),
      pagesLeft: 0,
    });
  }

  clear(): void {
    this.#armed = [];
  }

  /** The fault that answers this call, if any; uses one of its `times`. */
  take(method: string): ArmedFault | undefined {
    const index = this.#armed.findIndex(
      (fault) => fault.pagesLeft === 0 && (fault.methods === undefined || fault.methods.includes(method)),
    );
    const fault = this.#armed[index];
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining === 0) this.#armed.splice(index, 1);
    return fault;
  }

  /** A call of `method` was answered normally: counts down the pages of `failAfterPages` faults. */
  served(method: string): void {
    for (const fault of this.#armed) {
      if (fault.pagesLeft > 0 && fault.methods?.includes(method)) fault.pagesLeft -= 1;
    }
  }

  #arm(kind: ArmedFault['kind'], method: string | undefined, code: Code, message: string, remaining: number): void {
    this.#armed.push({ kind, methods: method ? [method] : undefined, code, message, remaining, pagesLeft: 0 });
  }
}

/** Answers calls with the armed faults; runs inside the auth check. */
export function faultInterceptor(faults: FaultRegistry, stats: FakeScalekitStats): Interceptor {
  return (next) => async (request) => {
    const method = request.method.name;
    const fault = faults.take(method);
    if (fault) stats.faultsInjected += 1;
    if (fault?.kind === 'error') throw new ConnectError(fault.message, fault.code);
    // The handler still runs (an unknown directory stays NotFound, response headers stay right);
    // only its answer is swapped for the method's empty message.
    const response = await next(request);
    if (fault && !response.stream) return { ...response, message: create(request.method.output) };
    faults.served(method);
    return response;
  };
}
