/**
 * The demo session (`DEMO_LOGIN=1`): who is signed in, as the admin of which organization, and until
 * when. It stands in for the app's real sessions, and is held to what a real one must do:
 *
 * - **Signed and expiring.** The cookie's value is `organization.session-id.expires-at.mac`, an
 *   HMAC-SHA256 of the first three under `SESSION_SECRET`; the browser also drops it after `Max-Age`.
 * - **Revocable.** The session id must still be live on the server: `/logout` ends it, so a cookie
 *   copied before sign-out is worthless afterwards. The live sessions are kept in memory (a restart
 *   signs everyone out, and several instances do not share them); a real app uses its own session
 *   store (a database table, Redis…), or its framework's.
 * - **Cheap to refuse.** Cookie headers are read only up to `MAX_COOKIE_HEADER` characters and never
 *   percent-decoded (the value is base64url and digits only), so a malformed, huge or repeated
 *   cookie is "nobody signed in", a 401, never an exception.
 *
 * The cookie is `HttpOnly` (no script reads it), `Path=/`, `Secure` when the request came over https,
 * and `SameSite=Lax`: the browser sends it on a top-level navigation from another site (an admin
 * following a link to `/settings` from an e-mail or Scalekit's dashboard stays signed in, which
 * `Strict` would break), but never on another site's form post, `fetch`, image or frame. `SameSite`
 * does not tell sibling subdomains apart, and not every browser applies it, so the state-changing
 * routes also refuse cross-site requests themselves (`same-origin.ts`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const ADMIN_SESSION_COOKIE = 'scim_example_admin';

/** Eight hours: a working day, after which the admin signs in again. */
export const DEFAULT_SESSION_TTL_SECONDS = 8 * 60 * 60;

/** Longer cookie headers are not read at all (Node refuses headers over 16 KB in all). */
const MAX_COOKIE_HEADER = 8192;

/** Live sessions kept at most; the oldest is dropped beyond it, so sign-ins cannot grow memory without end. */
const MAX_LIVE_SESSIONS = 10_000;

export const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `org_123.<22 chars of session id>.<expiry in ms>.<43 chars of HMAC>`: base64url, digits and dots only. */
const SESSION_VALUE = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{22})\.(\d{13})\.([A-Za-z0-9_-]{43})$/;

export interface SessionOptions {
  /** `SESSION_SECRET`. Unset: a random one, so cookies die with the process (they would anyway: the store is in memory). */
  secret: string | undefined;
  /** How long a session lasts. Default `DEFAULT_SESSION_TTL_SECONDS`. */
  ttlSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface Sessions {
  /** Starts a session for the admin of `organizationId`; answers its `Set-Cookie` header. */
  start(organizationId: string, secure: boolean): string;
  /** The organization of the request's live session, from its `Cookie` header; `null` when there is none. */
  organizationOf(cookieHeader: string | undefined): string | null;
  /** Ends the request's session, if any; answers the `Set-Cookie` header that clears the cookie. */
  end(cookieHeader: string | undefined, secure: boolean): string;
}

const attributes = (secure: boolean) => `Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

/** The values of every `name=` cookie in the header, read from at most `MAX_COOKIE_HEADER` characters. */
function cookieValues(header: string | undefined, name: string): string[] {
  if (!header || header.length > MAX_COOKIE_HEADER) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const pair = part.trim();
    if (pair.startsWith(`${name}=`)) values.push(pair.slice(name.length + 1));
  }
  return values;
}

export function createSessions(options: SessionOptions): Sessions {
  const secret = options.secret ?? randomBytes(32).toString('base64url');
  const ttlMs = (options.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS) * 1000;
  const now = options.now ?? Date.now;
  /** Live session ids → when each expires (for pruning). Insertion order is age order. */
  const live = new Map<string, number>();
  const mac = (value: string) => createHmac('sha256', secret).update(value).digest('base64url');

  /** The live session a cookie value names, with its id; `undefined` for anything else. */
  function verify(value: string): { id: string; organizationId: string } | undefined {
    const match = SESSION_VALUE.exec(value);
    if (!match) return undefined;
    const [, organizationId, id, expiresAt, given] = match as unknown as [string, string, string, string, string];
    const expected = Buffer.from(mac(`${organizationId}.${id}.${expiresAt}`));
    if (!timingSafeEqual(expected, Buffer.from(given))) return undefined;
    // The signed expiry ends it in time; the server's list of live ids ends it at `/logout`.
    if (Number(expiresAt) <= now() || !live.has(id)) return undefined;
    return { id, organizationId };
  }

  const current = (header: string | undefined) => {
    for (const value of cookieValues(header, ADMIN_SESSION_COOKIE)) {
      const session = verify(value);
      if (session) return session;
    }
    return undefined;
  };

  return {
    start(organizationId, secure) {
      if (!ORGANIZATION_ID.test(organizationId)) throw new RangeError(`Not an organization id: ${organizationId}`);
      const at = now();
      for (const [id, expiresAt] of live) {
        if (expiresAt > at && live.size < MAX_LIVE_SESSIONS) break;
        live.delete(id);
      }
      const id = randomBytes(16).toString('base64url');
      const expiresAt = at + ttlMs;
      live.set(id, expiresAt);
      const value = `${organizationId}.${id}.${expiresAt}`;
      return `${ADMIN_SESSION_COOKIE}=${value}.${mac(value)}; ${attributes(secure)}; Max-Age=${Math.floor(ttlMs / 1000)}`;
    },

    organizationOf(cookieHeader) {
      return current(cookieHeader)?.organizationId ?? null;
    },

    end(cookieHeader, secure) {
      const session = current(cookieHeader);
      if (session) live.delete(session.id);
      return `${ADMIN_SESSION_COOKIE}=; ${attributes(secure)}; Max-Age=0`;
    },
  };
}
