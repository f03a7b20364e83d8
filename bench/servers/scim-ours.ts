/**
 * Our SCIM server: `createScimServer` from `@org/scim-core` on `createEngine({ store: memoryStore() })`,
 * on bare `node:http` through `handleScimNodeRequest` (the path the Express and Fastify adapters
 * take; Hono and Next.js call `handle(Request)`). Seeded before listening with SCIM_USERS users
 * (default 100,000), fed to `engine.process` as the `user.upserted` events (source `scim`) a
 * `POST /Users` makes, the user built as `userFromScim` builds it; then the group `bench-group` of
 * users 1..SCIM_GROUP_MEMBERS (default 10,000), as `POST /Groups` and member PATCHes write it.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCIM_USERS, SCIM_GROUP_MEMBERS. Prints "scim-ours listening on http://host:port".
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createScimServer,
  type DirectoryUser,
  formatNanos,
  handleScimNodeRequest,
  hashScimToken,
  memoryStore,
  scimTokenAuthenticator,
} from '@org/scim-core';
import {
  BENCH_GROUP_NAME,
  groupMembersFromEnv,
  SCIM_BENCH_TOKEN,
  scimUserBody,
  userCountFromEnv,
} from '../lib/scim-users.js';

const ORG = 'org_bench_scim';
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const users = userCountFromEnv();
const members = groupMembersFromEnv(users);

const engine = createEngine({ store: memoryStore() });
const scim = createScimServer({
  engine,
  authenticator: scimTokenAuthenticator([{ organizationId: ORG, tokenHash: hashScimToken(SCIM_BENCH_TOKEN) }]),
});

/** What `userFromScim` makes of `scimUserBody(n)`: everything but id/meta/schemas/groups/active kept in `attributes.scim`. */
const userIds: string[] = [];
function directoryUser(n: number): DirectoryUser {
  const { schemas: _schemas, active: _active, ...scimAttributes } = scimUserBody(n);
  const id = randomUUID();
  userIds.push(id);
  return {
    id,
    organizationId: ORG,
    userName: scimAttributes.userName as string,
    active: true,
    groups: [],
    roles: [],
    attributes: { scim: scimAttributes },
    customAttributes: {},
    externalId: `ext-${n}`,
    email: scimAttributes.userName as string,
    name: `Given${n} Family${n}`,
    givenName: `Given${n}`,
    familyName: `Family${n}`,
  };
}

const seedStart = performance.now();
const base = BigInt(Date.now() - 60_000) * 1_000_000n;
for (let n = 1; n <= users; n++) {
  const result = await engine.process({
    type: 'user.upserted',
    id: `scim_${randomUUID()}`,
    organizationId: ORG,
    occurredAt: formatNanos(base + BigInt(n)),
    source: 'scim',
    sourceType: 'POST /Users',
    user: directoryUser(n),
  });
  if (result.status !== 'applied') throw new Error(`seeding user ${n}: ${result.status}`);
}
// The bench group: users 1..members, as POST /Groups then PATCHes of up to 1,000 members write it.
const groupId = randomUUID();
let seq = BigInt(users);
const stampNext = () => formatNanos(base + ++seq);
const created = await engine.process({
  type: 'group.upserted',
  id: `scim_${randomUUID()}`,
  organizationId: ORG,
  occurredAt: stampNext(),
  source: 'scim',
  sourceType: 'POST /Groups',
  group: { id: groupId, organizationId: ORG, displayName: BENCH_GROUP_NAME },
});
if (created.status !== 'applied') throw new Error(`seeding the group: ${created.status}`);
for (let from = 0; from < members; from += 1_000) {
  const added = userIds.slice(from, Math.min(from + 1_000, members));
  const result = await engine.process({
    type: 'group.members_changed',
    id: `scim_${randomUUID()}`,
    organizationId: ORG,
    occurredAt: stampNext(),
    source: 'scim',
    sourceType: 'PATCH /Groups',
    group: { id: groupId, organizationId: ORG },
    added,
    removed: [],
  });
  if (result.status !== 'applied') throw new Error(`seeding the group's members: ${result.status}`);
}
console.log(
  `scim-ours seeded ${users} users and a group of ${members} in ${Math.round(performance.now() - seedStart)} ms`,
);

const server = createServer((request, response) => {
  handleScimNodeRequest(scim, { request, response }).catch((error) => {
    response.writeHead(500).end(String(error));
  });
});
server.listen(port, host, () => {
  console.log(`scim-ours listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
const close = () => server.close(() => process.exit(0));
process.on('SIGINT', close);
process.on('SIGTERM', close);
