/** Counters a test reads to prove what the client did (retries, token refreshes, pages). */
import type { Interceptor } from '@connectrpc/connect';
export interface FakeScalekitStats {
  /** gRPC requests received per method name (`ListDirectoryUsers`, …), rejected ones included. */
  calls: Record<string, number>;
  /** Successful answers of `ListDirectoryUsers`, `ListDirectoryGroups`, `ListOrganization` and `ListEventsPaginated`. */
  pagesServed: number;
  /** Tokens handed out by `POST /oauth/token`. */
  tokensIssued: number;
  /** gRPC requests answered `Unauthenticated` (no, unknown or expired token). */
  unauthenticated: number;
  /** Calls a fault answered (errors and empty listings). */
  faultsInjected: number;
  /** Links handed out by `GeneratePortalLink`. */
  portalLinksIssued: number;
  /** Portal links opened within their TTL, each starting a session. */
  portalSessionsOpened: number;
  /** `GET /portal/<token>` answered with a failure page (reused, expired or unknown link). */
  portalLinksRefused: number;
}

export function emptyStats(): FakeScalekitStats {
  return {
    calls: {},
    pagesServed: 0,
    tokensIssued: 0,
    unauthenticated: 0,
    faultsInjected: 0,
    portalLinksIssued: 0,
    portalSessionsOpened: 0,
    portalLinksRefused: 0,
  };
}

/** A copy, so a test's snapshot does not change under it. */
export function copyStats(stats: FakeScalekitStats): FakeScalekitStats {
  return { ...stats, calls: { ...stats.calls } };
}

const PAGED_METHODS = new Set(['ListDirectoryUsers', 'ListDirectoryGroups', 'ListOrganization', 'ListEventsPaginated']);

/** Outermost interceptor: counts every call, and every listing page answered without error. */
export function statsInterceptor(stats: FakeScalekitStats): Interceptor {
  return (next) => async (request) => {
    const method = request.method.name;
    stats.calls[method] = (stats.calls[method] ?? 0) + 1;
    const response = await next(request);
    if (PAGED_METHODS.has(method)) stats.pagesServed += 1;
    return response;
  };
}
