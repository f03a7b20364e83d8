/**
 * Every SCIM write is stamped with a strictly later instant than the one before it, to the
 * nanosecond, whatever the clock does: standing still (writes in one millisecond) or going back.
 * Over real HTTP on the memory store; the stamps are read back as the user's stored versions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InteropHarness, startInteropHttp } from './scim-rfc7643.js';

const START = Date.parse('2026-03-04T05:06:07.999Z');
let clock = START;
let h: InteropHarness;
beforeAll(async () => {
  h = await startInteropHttp({ now: () => clock });
});
afterAll(async () => {
  await h.close();
});

const patchActive = (active: boolean) => ({
  schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
  Operations: [{ op: 'replace', path: 'active', value: active }],
});

async function versionAt(id: string): Promise<bigint | undefined> {
  const [version] = await h.engine.store.getVersions([{ organizationId: 'org_tenant', kind: 'user', id }]);
  return version?.at;
}

describe('SCIM write stamps', () => {
  it('are strictly increasing in one millisecond, after the clock goes back, and into the next second', async () => {
    const created = await h.scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'stamp@x.test',
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const base = BigInt(START) * 1_000_000n;
    expect(await versionAt(id)).toBe(base);
    // The clock stands still: each write one nanosecond later, each applied (none stale).
    for (let i = 1; i <= 3; i++) {
      expect((await h.scim('PATCH', `/Users/${id}`, patchActive(i % 2 === 0))).status).toBe(200);
      expect(await versionAt(id)).toBe(base + BigInt(i));
    }
    // The clock goes back a second: still after the last stamp.
    clock = START - 1_000;
    expect((await h.scim('PATCH', `/Users/${id}`, patchActive(true))).status).toBe(200);
    expect(await versionAt(id)).toBe(base + 4n);
    // The clock moves on into the next second: its own millisecond, at nanosecond 0.
    clock = START + 1;
    const answer = await h.scim('PATCH', `/Users/${id}`, patchActive(false));
    expect(answer.status).toBe(200);
    expect(await versionAt(id)).toBe(base + 1_000_000n);
    expect((answer.body as { meta: { lastModified: string } }).meta.lastModified).toBe('2026-03-04T05:06:08.000Z');
  });
});
