/**
 * The reconciler lists page N+1 while it applies page N. An HTTP client writes a request to its
 * socket a turn of the event loop after the call, and `memoryStore()` with synchronous handlers
 * applies a whole page without a turn: unless the reconciler gives the client that turn first, the
 * request leaves only after the page is applied and the listing waits on the applying (an initial
 * sync of 100,000 users cost 1.5–1.7× the listing alone instead of 1.2–1.4×; bench/README).
 *
 * The source here sends as such a client does (on the next turn, `setImmediate`), then answers at
 * once; the test checks each request was sent before any handler of the page before it ran.
 */
import {
  createEngine,
  createReconciler,
  type DirectoryRef,
  type DirectorySource,
  type DirectoryUser,
  memoryStore,
  type SourceUser,
} from '@org/scim-core';
import { expect, it } from 'vitest';

const organizationId = 'org_listing';
const PAGE_SIZE = 10;
const PAGES = 5;

function userOf(n: number): DirectoryUser {
  const id = `diruser_${String(n).padStart(4, '0')}`;
  return {
    id,
    organizationId,
    active: true,
    email: `${id}@example.com`,
    userName: `${id}@example.com`,
    groups: [],
    roles: [],
    attributes: {},
    customAttributes: {},
  };
}

it('sends the request for the next page before it applies the page in hand, with a store that never awaits', async () => {
  /** What happened, in order: `sent <page>` when a request left, `applied <user>` when a handler ran. */
  const log: string[] = [];
  const users = Array.from({ length: PAGE_SIZE * PAGES }, (_, n) => userOf(n));
  const source: DirectorySource = {
    resolveDirectory: async () => ({ id: 'dir_listing', organizationId, provider: 'OKTA', enabled: true }),
    listGroups: async () => ({ items: [], nextPageToken: undefined }),
    listOrganizations: async () => ({ items: [], nextPageToken: undefined }),
    listUsers(_directory: DirectoryRef, request) {
      const page = request.pageToken === undefined ? 0 : Number(request.pageToken);
      return new Promise((resolve) => {
        setImmediate(() => {
          log.push(`sent ${page}`);
          const items: SourceUser[] = users
            .slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE)
            .map((user) => ({ user, complete: true }));
          resolve({ items, nextPageToken: page + 1 < PAGES ? String(page + 1) : undefined });
        });
      });
    },
  };
  const engine = createEngine({
    store: memoryStore(),
    handlers: {
      userCreated: ({ user }) => {
        log.push(`applied ${user.id}`);
      },
    },
  });
  const report = await createReconciler({ engine, source, pageSize: PAGE_SIZE }).reconcile(organizationId);

  expect(report.status).toBe('completed');
  expect(report.users.created).toBe(PAGE_SIZE * PAGES);
  for (let page = 0; page + 1 < PAGES; page++) {
    const firstOfPage = `applied ${(users[page * PAGE_SIZE] as DirectoryUser).id}`;
    expect(log.indexOf(firstOfPage), `page ${page} was applied`).toBeGreaterThan(-1);
    expect(log.indexOf(`sent ${page + 1}`), `the request for page ${page + 1}`).toBeLessThan(log.indexOf(firstOfPage));
  }
});
