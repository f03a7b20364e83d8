/**
 * What the shared routes read of a request, whatever the framework: each example builds one from its
 * own request (`c.req`, `req`, `request`) in a line, and the checks below stay framework-agnostic.
 */
export interface RequestView {
  /** Path and query (`/api/users?organization_id=org_1`), or the full URL. */
  readonly url: string;
  /** One header's value, by lower-case name; `undefined` when absent. */
  header(name: string): string | undefined;
}

/** A JSON answer, for the example to send as is. */
export interface JsonAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

export const jsonError = (status: number, code: string, message: string): JsonAnswer => ({
  status,
  headers: { ...JSON_HEADERS },
  body: { error: { code, message } },
});

/**
 * Whether a state-changing request may come from where it came from. A browser names the site that
 * sent it: `Sec-Fetch-Site` (every current browser, on https and localhost) must be `same-origin`,
 * or `none` (typed into the address bar, a bookmark); without it, `Origin` must name this very host.
 * A request with neither is not from a browser (curl, a job, a server), and cannot carry a victim's
 * cookie, so it passes on to the session check. The same rule as Go's `http.CrossOriginProtection`.
 *
 * The app's own origin is the request's `Host`: behind a proxy, keep it (most proxies do; nginx:
 * `proxy_set_header Host $host`).
 */
export function isCrossSite(request: RequestView): boolean {
  const site = request.header('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = request.header('origin');
  if (origin === undefined) return false;
  const host = request.header('host');
  if (!host || !URL.canParse(origin)) return true;
  return new URL(origin).host !== host.toLowerCase();
}

/** `403 cross_site_request` when `isCrossSite`, else `undefined`. */
export function refuseCrossSite(request: RequestView): JsonAnswer | undefined {
  return isCrossSite(request)
    ? jsonError(
        403,
        'cross_site_request',
        'This request came from another site. Send it from the app’s own pages (a same-origin fetch).',
      )
    : undefined;
}

/** The media type of `Content-Type`, lower-cased, without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(request: RequestView): string {
  return (request.header('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/** Whether the request reached the app over https (directly, or through a proxy that says so). */
export function isHttps(request: RequestView): boolean {
  const forwarded = request.header('x-forwarded-proto')?.split(',', 1)[0]?.trim().toLowerCase();
  return forwarded === 'https' || (URL.canParse(request.url) && new URL(request.url).protocol === 'https:');
}
