/**
 * SCIMMY 1.3 + scimmy-routers 1.3 on Express 4, in memory: the baseline of /work/shared/BENCHMARKS.md.
 * The User resource's handlers keep users in a Map by id and a Map by lower-cased userName, used
 * for `id` lookups and `userName eq` filters; every other read returns all users and lets SCIMMY
 * filter (`resource.filter.match`), render and page them, as that baseline did.
 *
 * scimmy-routers takes `express` as a peer, which pnpm resolves to bench's Express 5 (on which its
 * paging breaks); its CommonJS build is loaded here with `require('express')` redirected to the
 * `express4` alias, so it and this app share one Express 4.
 *
 * Seeded before listening with SCIM_USERS users (default 100,000), written straight into the Maps.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCIM_USERS, SCIM_GROUP_MEMBERS. Prints "scim-scimmy listening on http://host:port".
 */
import { randomUUID } from 'node:crypto';
import Module, { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  BENCH_GROUP_NAME,
  groupMembersFromEnv,
  SCIM_BASE_PATH,
  SCIM_BENCH_TOKEN,
  scimUserBody,
  userCountFromEnv,
} from '../lib/scim-users.js';

const require = createRequire(import.meta.url);
const express4Path = require.resolve('express4');
const loader = Module as unknown as {
  _resolveFilename(request: string, parent: unknown, ...rest: unknown[]): string;
};
const originalResolve = loader._resolveFilename;
loader._resolveFilename = function (this: unknown, request, parent, ...rest) {
  return request === 'express' ? express4Path : originalResolve.call(this, request, parent, ...rest);
};
const express = require('express4') as typeof import('express4');
const { default: SCIMMYRouters, SCIMMY } = require('scimmy-routers') as typeof import('scimmy-routers');

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const users = userCountFromEnv();
const members = groupMembersFromEnv(users);

type StoredUser = Record<string, unknown> & { id: string; userName: string };
const byId = new Map<string, StoredUser>();
const byUserName = new Map<string, StoredUser>();

function store(user: StoredUser): StoredUser {
  const previous = byId.get(user.id);
  if (previous) byUserName.delete(previous.userName.toLowerCase());
  byId.set(user.id, user);
  byUserName.set(user.userName.toLowerCase(), user);
  return user;
}

const seedStart = performance.now();
const seededAt = new Date().toISOString();
for (let n = 1; n <= users; n++) {
  store({
    ...(scimUserBody(n) as { userName: string }),
    id: randomUUID(),
    meta: { resourceType: 'User', created: seededAt, lastModified: seededAt },
  });
}
type StoredGroup = Record<string, unknown> & { id: string; displayName: string };
const groups = new Map<string, StoredGroup>();
const seededGroup: StoredGroup = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  id: randomUUID(),
  displayName: BENCH_GROUP_NAME,
  members: [...byId.values()].slice(0, members).map((user) => ({ value: user.id, display: user.displayName })),
  meta: { resourceType: 'Group', created: seededAt, lastModified: seededAt },
};
groups.set(seededGroup.id, seededGroup);
console.log(
  `scim-scimmy seeded ${users} users and a group of ${members} in ${Math.round(performance.now() - seedStart)} ms`,
);

type Expression = Record<string, unknown[]>;
/** SCIMMY's own error (its types want a string scimType; SCIMMY itself passes null for none). */
const scimError = (status: number, scimType: string | null, detail: string) =>
  new SCIMMY.Types.Error(status, scimType as string, detail);

SCIMMY.Resources.declare(SCIMMY.Resources.User)
  .egress((resource) => {
    if (resource.id) {
      const user = byId.get(resource.id);
      if (!user) throw scimError(404, null, `Resource ${resource.id} not found`);
      return user;
    }
    const filter = resource.filter as unknown as Expression[] | undefined;
    if (filter && filter.length === 1) {
      const entries = Object.entries(filter[0] as Expression);
      const [attribute, comparison] = entries[0] ?? [];
      if (entries.length === 1 && comparison?.[0] === 'eq' && typeof comparison[1] === 'string') {
        if (attribute?.toLowerCase() === 'username') {
          const user = byUserName.get(comparison[1].toLowerCase());
          return user ? [user] : [];
        }
        if (attribute?.toLowerCase() === 'id') {
          const user = byId.get(comparison[1]);
          return user ? [user] : [];
        }
      }
    }
    const all = [...byId.values()];
    return resource.filter ? resource.filter.match(all) : all;
  })
  .ingress((resource, instance) => {
    const now = new Date().toISOString();
    const data = JSON.parse(JSON.stringify(instance)) as StoredUser;
    if (resource.id) {
      const current = byId.get(resource.id);
      if (!current) throw scimError(404, null, `Resource ${resource.id} not found`);
      const other = byUserName.get(data.userName.toLowerCase());
      if (other && other.id !== resource.id) throw scimError(409, 'uniqueness', `userName "${data.userName}" is taken`);
      const meta = current.meta as Record<string, unknown>;
      return store({ ...data, id: resource.id, meta: { ...meta, lastModified: now } });
    }
    if (byUserName.has(data.userName.toLowerCase()))
      throw scimError(409, 'uniqueness', `userName "${data.userName}" is taken`);
    return store({ ...data, id: randomUUID(), meta: { resourceType: 'User', created: now, lastModified: now } });
  })
  .degress((resource) => {
    const user = resource.id ? byId.get(resource.id) : undefined;
    if (!user) throw scimError(404, null, `Resource ${resource.id} not found`);
    byId.delete(user.id);
    byUserName.delete(user.userName.toLowerCase());
  });

// Groups the same way: a Map by id, `displayName eq` answered from it, every other read left to SCIMMY.
SCIMMY.Resources.declare(SCIMMY.Resources.Group)
  .egress((resource) => {
    if (resource.id) {
      const group = groups.get(resource.id);
      if (!group) throw scimError(404, null, `Resource ${resource.id} not found`);
      return group;
    }
    const all = [...groups.values()];
    return resource.filter ? resource.filter.match(all) : all;
  })
  .ingress((resource, instance) => {
    const now = new Date().toISOString();
    const data = JSON.parse(JSON.stringify(instance)) as StoredGroup;
    if (resource.id) {
      const current = groups.get(resource.id);
      if (!current) throw scimError(404, null, `Resource ${resource.id} not found`);
      const meta = current.meta as Record<string, unknown>;
      const next = { ...data, id: resource.id, meta: { ...meta, lastModified: now } };
      groups.set(resource.id, next);
      return next;
    }
    const created = { ...data, id: randomUUID(), meta: { resourceType: 'Group', created: now, lastModified: now } };
    groups.set(created.id, created);
    return created;
  })
  .degress((resource) => {
    if (!resource.id || !groups.delete(resource.id)) throw scimError(404, null, `Resource ${resource.id} not found`);
  });

const app = express();
app.use(
  SCIM_BASE_PATH,
  new SCIMMYRouters({
    type: 'bearer',
    handler: (req) => {
      if (req.headers.authorization !== `Bearer ${SCIM_BENCH_TOKEN}`) throw new Error('Authorization failed');
      return 'bench';
    },
    context: () => ({}),
  }) as unknown as import('express4').Router,
);

const server = app.listen(port, host, () => {
  console.log(`scim-scimmy listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
const close = () => server.close(() => process.exit(0));
process.on('SIGINT', close);
process.on('SIGTERM', close);
