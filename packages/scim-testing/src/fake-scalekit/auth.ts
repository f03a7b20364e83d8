/**
 * OAuth client credentials as Scalekit runs them: `POST /oauth/token` (HTTP/1.1, form body) hands
 * out bearer tokens, and every gRPC call must carry a live one or get `Unauthenticated`, which is
 * what makes the SDK fetch a token at all (its first call goes out without one).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { type HttpRoute, readBody, sendJson } from './http-routes.js';
import type { FakeScalekitStats } from './stats.js';

export class TokenStore {
  readonly #tokens = new Map<string, number>();
  readonly #ttlSeconds: number;
  readonly #now: () => number;

  constructor(ttlSeconds: number, now: () => number) {
    this.#ttlSeconds = ttlSeconds;
    this.#now = now;
  }

  issue(): { token: string; expiresIn: number } {
    const token = `fake_at_${randomBytes(24).toString('base64url')}`;
    this.#tokens.set(token, this.#now() + this.#ttlSeconds * 1000);
    return { token, expiresIn: this.#ttlSeconds };
  }

  isValid(token: string): boolean {
    const expiresAt = this.#tokens.get(token);
    if (expiresAt === undefined) return false;
    if (this.#now() < expiresAt) return true;
    this.#tokens.delete(token);
    return false;
  }

  /** Every token issued so far stops working. */
  expireAll(): void {
    this.#tokens.clear();
  }
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export interface OAuthTokenRouteOptions {
  clientId: string;
  clientSecret: string;
  tokens: TokenStore;
  stats: FakeScalekitStats;
}

/** `POST /oauth/token`, grant `client_credentials`; credentials in the form body or HTTP Basic. */
export function oauthTokenRoute(options: OAuthTokenRouteOptions): HttpRoute {
  return async (request, response) => {
    const form = new URLSearchParams(await readBody(request));
    let clientId = form.get('client_id');
    let clientSecret = form.get('client_secret');
    const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? '');
    if (basic?.[1]) {
      const [id, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':', 2);
      clientId = decodeURIComponent(id ?? '');
      clientSecret = decodeURIComponent(secret ?? '');
    }
    if (form.get('grant_type') !== 'client_credentials') {
      sendJson(response, 400, {
        error: 'unsupported_grant_type',
        error_description: 'grant_type must be client_credentials',
      });
      return;
    }
    if (
      clientId === null ||
      clientSecret === null ||
      !same(clientId, options.clientId) ||
      !same(clientSecret, options.clientSecret)
    ) {
      sendJson(response, 401, {
        error: 'invalid_client',
        error_description: 'unknown client_id or wrong client_secret',
      });
      return;
    }
    const { token, expiresIn } = options.tokens.issue();
    options.stats.tokensIssued += 1;
    sendJson(response, 200, { access_token: token, token_type: 'Bearer', expires_in: expiresIn });
  };
}

/** Rejects any gRPC call without a live bearer token, as Scalekit does. */
export function authInterceptor(tokens: TokenStore, stats: FakeScalekitStats): Interceptor {
  return (next) => async (request) => {
    const match = /^Bearer\s+(\S+)$/i.exec(request.header.get('authorization') ?? '');
    if (!match?.[1] || !tokens.isValid(match[1])) {
      stats.unauthenticated += 1;
      throw new ConnectError(
        match ? 'access token is invalid or expired' : 'missing bearer token',
        Code.Unauthenticated,
      );
    }
    return next(request);
  };
}
