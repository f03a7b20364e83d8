/** A real HTTP server on 127.0.0.1 around the SCIM server's Web-standard handler, for the interop suites. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  handleScimNodeRequest,
  memoryStore,
  type ProvisioningHandlers,
  type ProvisioningStore,
} from '../src/index.js';
import { createScimServer } from '../src/scim/server.js';
import { generateScimToken, scimTokenAuthenticator } from '../src/scim/tokens.js';

export interface ScimHarness {
  base: string;
  token: string;
  otherToken: string;
  calls: string[];
  engine: ReturnType<typeof createEngine>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
  scim(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * Handlers that record each call as one line in `calls`: its name, then the user's userName (a
 * membership change names its user) or the group's displayName.
 */
export function recordingHandlers(calls: string[]): ProvisioningHandlers {
  const record = (name: string) => (arg: { user?: { userName?: string }; group?: object }) => {
    const group = arg.group as { displayName?: string } | undefined;
    calls.push(`${name} ${arg.user?.userName ?? group?.displayName ?? ''}`.trim());
  };
  return {
    userCreated: record('userCreated'),
    userUpdated: record('userUpdated'),
    userDeactivated: record('userDeactivated'),
    userReactivated: record('userReactivated'),
    groupCreated: record('groupCreated'),
    groupUpdated: record('groupUpdated'),
    groupDeleted: record('groupDeleted'),
    membershipAdded: record('membershipAdded'),
    membershipRemoved: record('membershipRemoved'),
  };
}

/** `store`: the engine's store (a fresh `memoryStore()` by default). */
export async function startScimHttp(options: { store?: ProvisioningStore } = {}): Promise<ScimHarness> {
  const tenant = generateScimToken();
  const other = generateScimToken();
  const calls: string[] = [];
  const handlers = recordingHandlers(calls);
  const engine = createEngine({ store: options.store ?? memoryStore(), handlers });
  const server = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([
      { organizationId: 'org_tenant', tokenHash: tenant.tokenHash },
      { organizationId: 'org_other', tokenHash: other.tokenHash },
    ]),
  });
  // The Node path the Express and Fastify adapters use (scim-custom-extension.test.ts goes through the Web bridge).
  const http = createServer((request, response) => handleScimNodeRequest(server, { request, response }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const base = `${origin}/scim/v2`;
  return {
    base,
    token: tenant.token,
    otherToken: other.token,
    calls,
    engine,
    async scim(method, path, body, token = tenant.token) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/scim+json',
          'content-type': 'application/scim+json; charset=utf-8',
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}
