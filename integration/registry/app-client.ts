/**
 * What a user does to a running example over HTTP: create a user over SCIM, sign in through the demo
 * `/login` (`DEMO_LOGIN=1`) as an organization's admin, and list its users as the app's page does.
 */

/** The session cookie of the examples' demo sign-in (`ADMIN_SESSION_COOKIE` of `@org/scim-core/app`). */
const SESSION_COOKIE = 'scim_example_admin';

export interface ListedUser {
  id: string;
  email: string | null;
  name: string | null;
  active: boolean;
}

/** The request headers of the app's own page: a browser adds both to a same-origin request. */
const sameOrigin = (base: string) => ({ origin: base, 'sec-fetch-site': 'same-origin' });

/** `POST /scim/v2/Users` as an identity provider sends it; answers the new user's id. */
export async function createScimUser(base: string, token: string, userName: string): Promise<string> {
  const response = await fetch(`${base}/scim/v2/Users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    body: JSON.stringify({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName,
      emails: [{ value: userName, primary: true }],
      active: true,
    }),
  });
  const body = await response.text();
  if (response.status !== 201) throw new Error(`POST /scim/v2/Users answered ${response.status}: ${body}`);
  return (JSON.parse(body) as { id: string }).id;
}

/** Signs in through the demo form as `organizationId`'s admin; answers the `Cookie` header of the session. */
export async function signIn(base: string, organizationId: string): Promise<string> {
  const response = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...sameOrigin(base) },
    body: new URLSearchParams({ organization_id: organizationId }),
    redirect: 'manual',
  });
  const cookie = (response.headers.get('set-cookie') ?? '').split(';', 1)[0] ?? '';
  if (response.status !== 303 || !cookie.startsWith(`${SESSION_COOKIE}=`)) {
    throw new Error(
      `POST /login for ${organizationId} answered ${response.status} with Set-Cookie "${cookie}" (expected 303 and ${SESSION_COOKIE}=…): ${await response.text()}`,
    );
  }
  return cookie;
}

/** `GET /api/users` of the signed-in admin's organization. */
export async function listUsers(base: string, cookie: string): Promise<ListedUser[]> {
  const response = await fetch(`${base}/api/users`, { headers: { cookie, ...sameOrigin(base) } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET /api/users answered ${response.status}: ${body}`);
  return JSON.parse(body) as ListedUser[];
}
