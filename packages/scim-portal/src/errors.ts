/**
 * Why the portal could not get (or keep) a link. `code` is the link route's own
 * `{ error: { code } }` when it sent one, otherwise one of this package's codes:
 * `network_error`, `link_route_failed`, `invalid_link`, `fetch_link_failed`, `refresh_limit`.
 */
export class PortalLinkError extends Error {
  override readonly name = 'PortalLinkError';
  /** The link route's HTTP status; `undefined` when no response was involved. */
  readonly status: number | undefined;
  readonly code: string;
  /** Whether trying again later may help (network errors, 408, 429, 5xx). */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { status?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable ?? isRetryableStatus(options.status);
  }
}

function isRetryableStatus(status: number | undefined): boolean {
  return status !== undefined && (status === 408 || status === 429 || status >= 500);
}
