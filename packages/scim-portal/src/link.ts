import { PortalLinkError } from './errors.js';

/** What the app's link route answers: a single-use portal URL, valid for about a minute. */
export interface PortalLink {
  location: string;
  expiresAt?: string;
}

/** Where `mountAdminPortal` asks for a link when given neither `linkUrl` nor `fetchLink`. */
export const DEFAULT_LINK_URL = '/api/admin-portal/link';

/**
 * `GET`s the app's link route (same-origin credentials, never cached) and returns its
 * `{ location, expiresAt }`. Rejects with a `PortalLinkError` carrying the route's status and its
 * `{ error: { code, message } }` when it fails.
 */
export async function fetchPortalLink(linkUrl: string = DEFAULT_LINK_URL, signal?: AbortSignal): Promise<PortalLink> {
  let response: Response;
  try {
    response = await fetch(linkUrl, {
      method: 'GET',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { accept: 'application/json' },
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new PortalLinkError('network_error', `Could not reach the portal link route ${linkUrl}`, {
      retryable: true,
      cause: error,
    });
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const routeError = isRecord(body) && isRecord(body.error) ? body.error : undefined;
    const code = typeof routeError?.code === 'string' ? routeError.code : 'link_route_failed';
    const message =
      typeof routeError?.message === 'string'
        ? routeError.message
        : `The portal link route ${linkUrl} answered ${response.status}`;
    throw new PortalLinkError(code, message, { status: response.status });
  }
  return validatePortalLink(body, { status: response.status });
}

/**
 * Checks that `value` is `{ location, expiresAt? }` with an absolute http(s) `location`; anything
 * else would put an unexpected page (or a `javascript:` URL) in the frame.
 */
export function validatePortalLink(value: unknown, options: { status?: number } = {}): PortalLink {
  const location = isRecord(value) ? value.location : undefined;
  if (typeof location !== 'string' || !isHttpUrl(location)) {
    throw new PortalLinkError(
      'invalid_link',
      'The portal link route answered without an absolute http(s) `location`; expected { location, expiresAt }',
      options,
    );
  }
  const expiresAt = isRecord(value) && typeof value.expiresAt === 'string' ? value.expiresAt : undefined;
  return expiresAt === undefined ? { location } : { location, expiresAt };
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
