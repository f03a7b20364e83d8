/**
 * Our SCIM server: `createScimServer` from `@org/scim-core` on `createEngine({ store: memoryStore() })`,
 * on bare `node:http` through core's Node ↔ Web bridge (`toWebRequest` / `writeWebResponse`, as the
 * Express, Fastify and Next.js adapters use it). Seeded before listening with SCIM_USERS users
 * (default 100,000), fed to `engine.process` as the `user.upserted` events (source `scim`) a
 * `POST /Users` makes, the user built as `userFromScim` builds it.
 *
 * Env: PORT (0 = any), HOST (default 127.0.0.1), SCIM_USERS. Prints "scim-ours listening on http://host:port".
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createScimServer,
  type DirectoryUser,
  formatNanos,
  hashScimToken,
  memoryStore,
  scimTokenAuthenticator,
  toWebRequest,
  writeWebResponse,
} from '@org/scim-core';
import { SCIM_BENCH_TOKEN, scimUserBody, userCountFromEnv } from '../lib/scim-users.js';

const ORG = 'org_bench_scim';
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const users = userCountFromEnv();

const engine = createEngine({ store: memoryStore() });
const scim = createScimServer({
  engine,
  authenticator: scimTokenAuthenticator([{ organizationId: ORG, tokenHash: hashScimToken(SCIM_BENCH_TOKEN) }]),
});

/** What `userFromScim` makes of `scimUserBody(n)`: everything but id/meta/schemas/groups/active kept in `attributes.scim`. */
function directoryUser(n: number): DirectoryUser {
  const { schemas: _schemas, active: _active, ...scimAttributes } = scimUserBody(n);
  return {
    id: randomUUID(),
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
console.log(`scim-ours seeded ${users} users in ${Math.round(performance.now() - seedStart)} ms`);

const server = createServer(async (req, res) => {
  try {
    await writeWebResponse(res, await scim.handle(toWebRequest(req)), req);
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});
server.listen(port, host, () => {
  console.log(`scim-ours listening on http://${host}:${(server.address() as AddressInfo).port}`);
});
const close = () => server.close(() => process.exit(0));
process.on('SIGINT', close);
process.on('SIGTERM', close);
