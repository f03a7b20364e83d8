/**
 * The admin-portal link route: the signed-in admin's browser asks for a single-use link to
 * Scalekit's admin portal for the organization the app says they may manage, and embeds it.
 *
 * A link is single-use and valid for a minute (SCALEKIT.md §4), so every answer is
 * `Cache-Control: no-store` and a new one is generated per request. The organization comes from the
 * app's `authorize` hook, never from the query string alone: `?organization_id=` only chooses among
 * the organizations the hook allowed.
 *
 * Framework-neutral: `respond(request, url)` takes whatever request the adapter has (Express's `req`,
 * Hono's `Context`, a Web `Request`) and hands it to `authorize` unchanged, so the hook can read the
 * app's own session the way the app already does.
 */

import { z } from 'zod';
import { checked, describeValue, fn, NEW_SCALEKIT_CLIENT, optionsObject, validateOptions } from '../options.js';
import { toDirectorySourceError } from '../reconcile/scalekit-source.js';

/** What `authorize` answers: the organization(s) the admin may manage, or `null` when nobody is signed in. */
export type PortalAuthorization = string | readonly string[] | null | undefined;

/** The part of `ScalekitClient` the route uses (typed structurally: core does not depend on the SDK). */
export interface PortalLinkClient {
  organization: {
    generatePortalLink(organizationId: string): Promise<{
      id?: string;
      location?: string;
      /** A protobuf `Timestamp` in the SDK (`seconds` is a bigint), or a `Date`/ISO string from other clients. */
      expireTime?: { seconds: bigint | number | string; nanos?: number } | Date | string;
    }>;
  };
}

export interface PortalLinkOptions<R> {
  /** `new ScalekitClient(environmentUrl, clientId, clientSecret)`. */
  client: PortalLinkClient;
  /**
   * Which organization(s) the request's signed-in admin may manage: the app's own session check.
   * `null`/`undefined` answers 401, an empty list 403. Throwing answers 500 (reported to `onError`).
   */
  authorize: (request: R) => PortalAuthorization | Promise<PortalAuthorization>;
  /** The query parameter that picks one organization when `authorize` allows several. Default `organization_id`. */
  organizationParam?: string;
  /** Called for every failed answer with its status and code (and the error, when one was thrown): for logging. */
  onError?: (failure: PortalLinkFailure) => void;
  /** Clock for the fallback expiry, in ms. Default `Date.now`. */
  now?: () => number;
}

export type PortalLinkErrorCode =
  | 'method_not_allowed'
  | 'unauthorized'
  | 'forbidden'
  | 'organization_required'
  | 'organization_not_found'
  | 'authorization_failed'
  | 'scalekit_unauthorized'
  | 'scalekit_rate_limited'
  | 'scalekit_unavailable'
  | 'scalekit_error';

export interface PortalLinkFailure {
  status: number;
  code: PortalLinkErrorCode;
  message: string;
  organizationId?: string;
  error?: unknown;
}

/** The success body: what `@org/scim-portal` expects. */
export interface PortalLinkBody {
  location: string;
  /** ISO 8601: when the link stops working if unused. */
  expiresAt: string;
}

export interface PortalLinkErrorBody {
  error: { code: PortalLinkErrorCode; message: string };
}

export interface PortalLinkResponse {
  status: number;
  headers: Record<string, string>;
  body: PortalLinkBody | PortalLinkErrorBody;
}

export interface PortalLinkHandler<R> {
  /** Answers one request; `url` is its full or path-relative URL (for `?organization_id=`), `method` its verb. */
  respond(request: R, input: { method: string; url: string }): Promise<PortalLinkResponse>;
}

/** Links are valid for a minute; used when a client answers without `expireTime`. */
export const PORTAL_LINK_TTL_MS = 60_000;

const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  // Single-use and short-lived: no browser, proxy or CDN may keep or replay it.
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

function isoExpiry(expireTime: unknown, fallbackMs: number): string {
  if (expireTime instanceof Date && !Number.isNaN(expireTime.getTime())) return expireTime.toISOString();
  if (typeof expireTime === 'string' && !Number.isNaN(Date.parse(expireTime))) {
    return new Date(expireTime).toISOString();
  }
  if (typeof expireTime === 'object' && expireTime !== null && 'seconds' in expireTime) {
    const { seconds, nanos } = expireTime as { seconds: unknown; nanos?: unknown };
    const ms = Number(seconds) * 1000 + Math.floor((typeof nanos === 'number' ? nanos : 0) / 1e6);
    if (Number.isFinite(ms) && ms > 0) return new Date(ms).toISOString();
  }
  return new Date(fallbackMs).toISOString();
}

/** The organizations `authorize` allowed, deduplicated, or `null` for "nobody is signed in". */
function allowedOrganizations(answer: PortalAuthorization): string[] | null {
  if (answer === null || answer === undefined) return null;
  const list = typeof answer === 'string' ? [answer] : [...answer];
  return [...new Set(list.filter((id) => typeof id === 'string' && id !== ''))];
}

const SCALEKIT_FAILURES = {
  not_found: [404, 'organization_not_found'],
  unauthorized: [502, 'scalekit_unauthorized'],
  rate_limited: [429, 'scalekit_rate_limited'],
  unavailable: [503, 'scalekit_unavailable'],
  invalid_request: [502, 'scalekit_error'],
  remote_error: [502, 'scalekit_error'],
} as const satisfies Record<string, readonly [number, PortalLinkErrorCode]>;

const portalClient = checked((client, report) => {
  if (client === undefined) {
    report(`is missing: pass ${NEW_SCALEKIT_CLIENT}`);
  } else if (
    typeof (client as { organization?: { generatePortalLink?: unknown } } | null)?.organization?.generatePortalLink !==
    'function'
  ) {
    report(
      `must be a ScalekitClient (${NEW_SCALEKIT_CLIENT}) or an object with organization.generatePortalLink, got ${describeValue(client)}`,
    );
  }
});

const paramError = {
  error: (issue: { input?: unknown }) =>
    `must be a query parameter name, such as 'organization_id', got ${describeValue(issue.input, { quoted: true })}`,
};

const portalLinkOptions = optionsObject(
  {
    client: portalClient,
    authorize: fn(
      "pass (request) => the organization id(s) the signed-in admin may manage, or null when nobody is signed in (read your app's session)",
    ),
    organizationParam: z.string(paramError).min(1, paramError).optional(),
    onError: fn(),
    now: fn(),
  },
  '{ client, authorize }',
);

/**
 * The portal-link route. Mount it with an adapter (`adminPortalLink(handler)` in
 * `@org/scim-express` / `-hono` / `-fastify` / `-next`), or call `respond` yourself. Throws an
 * `OptionsError` when `client` or `authorize` is missing: without the hook nobody may have a link.
 */
export function createPortalLinkHandler<R = Request>(options: PortalLinkOptions<R>): PortalLinkHandler<R> {
  validateOptions('createPortalLinkHandler', portalLinkOptions, options);
  const { client, authorize, onError } = options;
  const param = options.organizationParam ?? 'organization_id';
  const now = options.now ?? Date.now;

  const fail = (
    status: number,
    code: PortalLinkErrorCode,
    message: string,
    extra: { organizationId?: string; error?: unknown; headers?: Record<string, string> } = {},
  ): PortalLinkResponse => {
    const { headers, ...rest } = extra;
    onError?.({ status, code, message, ...rest });
    return { status, headers: { ...HEADERS, ...headers }, body: { error: { code, message } } };
  };

  return {
    async respond(request, { method, url }) {
      if (method !== 'GET' && method !== 'POST') {
        return fail(405, 'method_not_allowed', 'Ask for a portal link with GET or POST.', {
          headers: { allow: 'GET, POST' },
        });
      }
      let allowed: string[] | null;
      try {
        allowed = allowedOrganizations(await authorize(request));
      } catch (error) {
        return fail(500, 'authorization_failed', 'The authorize hook failed.', { error });
      }
      if (allowed === null) return fail(401, 'unauthorized', 'Sign in as an administrator of the organization.');
      if (allowed.length === 0) return fail(403, 'forbidden', 'You may not manage any organization.');

      const requested = new URL(url, 'http://localhost').searchParams.get(param) || undefined;
      let organizationId: string;
      if (requested !== undefined) {
        if (!allowed.includes(requested)) {
          return fail(403, 'forbidden', `You may not manage organization ${requested}.`, {
            organizationId: requested,
          });
        }
        organizationId = requested;
      } else if (allowed.length === 1) {
        organizationId = allowed[0] as string;
      } else {
        return fail(
          400,
          'organization_required',
          `You manage several organizations: add ?${param}=org_… to choose one.`,
        );
      }

      let link: Awaited<ReturnType<PortalLinkClient['organization']['generatePortalLink']>>;
      try {
        link = await client.organization.generatePortalLink(organizationId);
      } catch (error) {
        const failure = toDirectorySourceError(error, `generate an admin portal link for ${organizationId}`);
        const [status, code] = SCALEKIT_FAILURES[failure.code];
        const retryAfter =
          failure.retryAfterMs === undefined
            ? undefined
            : { 'retry-after': String(Math.ceil(failure.retryAfterMs / 1000)) };
        return fail(status, code, failure.message, {
          organizationId,
          error,
          ...(retryAfter && { headers: retryAfter }),
        });
      }
      if (typeof link?.location !== 'string' || link.location === '') {
        return fail(502, 'scalekit_error', 'Scalekit answered without a portal link location.', { organizationId });
      }
      const body: PortalLinkBody = {
        location: link.location,
        expiresAt: isoExpiry(link.expireTime, now() + PORTAL_LINK_TTL_MS),
      };
      return { status: 200, headers: { ...HEADERS }, body };
    },
  };
}

/** A `PortalLinkResponse` as a Web `Response` (Hono, Next.js, any fetch-style server). */
export function portalLinkWebResponse(answer: PortalLinkResponse): Response {
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers: answer.headers });
}
