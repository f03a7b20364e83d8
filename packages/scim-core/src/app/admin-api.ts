/**
 * The app's own admin routes, for the signed-in admin of one organization only (the same `authorize`
 * hook as the portal link and `/settings`):
 *
 * | route | answers |
 * | --- | --- |
 * | `GET /api/users` | the organization's users as the handlers wrote them |
 * | `GET /api/groups` | its groups |
 * | `POST /api/sync` | runs reconciliation now, answers the report; refuses cross-site requests and anything but `Content-Type: application/json` |
 *
 * With no `?organization_id=` they act on the admin's organization; naming another answers 403, and
 * nobody signed in 401. Framework-agnostic: each example maps the `JsonAnswer` onto its response.
 */
import { type Authorize, organizationFor } from './authorize.js';
import { checkAdminApiOptions } from './options.js';
import { JSON_HEADERS, type JsonAnswer, jsonError, mediaType, type RequestView, refuseCrossSite } from './request.js';
import { logServerError, type ServerErrorHook } from './server-errors.js';
import { runSync, type Sync } from './sync.js';

/** What the admin routes read of the app's own users and groups (the rows its handlers wrote). */
export interface AdminDirectory {
  /** The organization's users; the settings page counts those with `active: true`. */
  listUsers(organizationId: string): Promise<ReadonlyArray<{ readonly active: boolean }>>;
  listGroups(organizationId: string): Promise<readonly unknown[]>;
}

export interface AdminApiOptions<R> {
  /** Which organization(s) the request's signed-in admin manages. */
  authorize: Authorize<R>;
  users: AdminDirectory;
  sync: Sync;
  /** Every 5xx `POST /api/sync` answers, with its cause. Default `logServerError`. */
  onServerError?: ServerErrorHook;
}

export interface AdminApi<R> {
  /** `GET /api/users`. `request` goes to `authorize`; `view` is what the route reads itself. */
  users(request: R, view: RequestView): Promise<JsonAnswer>;
  /** `GET /api/groups`. */
  groups(request: R, view: RequestView): Promise<JsonAnswer>;
  /** `POST /api/sync`. */
  sync(request: R, view: RequestView): Promise<JsonAnswer>;
}

const ok = (status: number, body: unknown): JsonAnswer => ({ status, headers: { ...JSON_HEADERS }, body });

export function createAdminApi<R>(options: AdminApiOptions<R>): AdminApi<R> {
  checkAdminApiOptions(options);
  const { authorize, users, sync } = options;
  const onServerError = options.onServerError ?? logServerError;

  /** Reads the organization's list for its signed-in admin. */
  const list =
    (read: (organizationId: string) => Promise<unknown>) =>
    async (request: R, view: RequestView): Promise<JsonAnswer> => {
      const access = organizationFor(await authorize(request), view.url);
      return 'refused' in access ? access.refused : ok(200, await read(access.organizationId));
    };

  return {
    users: list((organizationId) => users.listUsers(organizationId)),
    groups: list((organizationId) => users.listGroups(organizationId)),

    async sync(request, view) {
      // A browser sends a cross-site form post with the admin's cookie: refused before anything runs.
      const crossSite = refuseCrossSite(view);
      if (crossSite) return crossSite;
      // A form (or `text/plain`) post needs no CORS preflight; `application/json` from another site does.
      if (mediaType(view) !== 'application/json') {
        return jsonError(
          415,
          'unsupported_media_type',
          'Send POST /api/sync with Content-Type: application/json (the body may be {}); the options go in the query string.',
        );
      }
      const access = organizationFor(await authorize(request), view.url);
      if ('refused' in access) return access.refused;

      const answer = await runSync(sync, access.organizationId, new URL(view.url, 'http://localhost').searchParams);
      if (answer.status >= 500) {
        const { body } = answer;
        const error = body.error ?? { code: 'sync_failed', message: 'The reconciliation failed.' };
        onServerError({
          route: 'POST /api/sync',
          status: answer.status,
          code: error.code,
          message: error.message,
          // A failed run's report names it; the 503 of a missing configuration needs no more than its message.
          ...('runId' in body && { cause: { runId: body.runId, organizationId: body.organizationId, error } }),
        });
      }
      return ok(answer.status, answer.body);
    },
  };
}
