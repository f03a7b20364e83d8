/**
 * Which organization a request may manage: the one hook a real app replaces. Every admin route
 * (`/api/users`, `/api/groups`, `/api/sync`, the portal link, `/settings`) asks it, and the query
 * string never widens what it answers: `?organization_id=` only picks among the organizations it
 * allowed, exactly as core's portal-link route does.
 */
import type { PortalAuthorization } from '../index.js';
import { type JsonAnswer, jsonError } from './request.js';

/**
 * The app's own session check, on the framework's own request (`Context`, `req`, `Request`): the
 * organization(s) the signed-in admin manages, or `null`/`undefined` when nobody is signed in. The
 * examples read their demo cookie; a real app reads `req.user.organizationId`, a JWT claim…
 */
export type Authorize<R> = (request: R) => PortalAuthorization | Promise<PortalAuthorization>;

/**
 * The organization the request acts on, or the error to answer: 401 when nobody is signed in, 403
 * for an organization the admin does not manage, 400 when the admin manages several and named none.
 */
export function organizationFor(
  allowed: PortalAuthorization,
  url: string,
): { organizationId: string } | { refused: JsonAnswer } {
  if (allowed === null || allowed === undefined) {
    return { refused: jsonError(401, 'unauthorized', 'Sign in as an administrator of the organization.') };
  }
  const organizations = (typeof allowed === 'string' ? [allowed] : [...allowed]).filter((id) => id !== '');
  const requested = new URL(url, 'http://localhost').searchParams.get('organization_id') || undefined;
  if (requested !== undefined) {
    return organizations.includes(requested)
      ? { organizationId: requested }
      : { refused: jsonError(403, 'forbidden', `You may not manage organization ${requested}.`) };
  }
  const [only, ...others] = organizations;
  if (only === undefined) return { refused: jsonError(403, 'forbidden', 'You may not manage any organization.') };
  if (others.length > 0) {
    return {
      refused: jsonError(
        400,
        'organization_required',
        'You manage several organizations: add ?organization_id=org_… to choose one.',
      ),
    };
  }
  return { organizationId: only };
}
