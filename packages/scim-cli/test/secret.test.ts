/** `scim-sync secret`: a fresh signing secret that an app's webhook route built with @org/scim-core accepts. */
import { decodeWebhookSecret } from '@org/scim-core';
import { describe, expect, it } from 'vitest';
import { run, runBin, startReceiver, tempDir } from './helpers.js';

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe('scim-sync secret', () => {
  it('prints whsec_ and the base64 of 32 random bytes, a different one each time, and how to use it on stderr', async () => {
    const first = await run(['secret']);
    const second = await run(['secret']);
    expect(first.code).toBe(0);
    const secret = first.stdout.trimEnd();
    expect(first.stdout).toBe(`${secret}\n`);
    expect(secret).toMatch(SECRET);
    expect(decodeWebhookSecret(secret)).toHaveLength(32);
    expect(second.stdout.trimEnd()).toMatch(SECRET);
    expect(second.stdout).not.toBe(first.stdout);
    expect(first.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(first.stderr).toContain(`SCALEKIT_WEBHOOK_SECRET=${secret} npm start, then `);
    expect(first.stderr).toContain(
      `npx scim-sync trigger user_created --url http://127.0.0.1:3000/webhooks/scalekit --secret ${secret}`,
    );
  });

  it('signs what the app’s receiver verifies: the app started with it applies a trigger signed with it', async () => {
    const secret = (await run(['secret'])).stdout.trimEnd();
    const app = await startReceiver(secret);
    const sent = await run(['trigger', 'user_created', '--url', app.url], {
      env: { SCALEKIT_WEBHOOK_SECRET: secret },
      cwd: tempDir(),
    });
    expect(sent.code).toBe(0);
    expect(sent.stdout).toContain('HTTP 200 OK');
    expect(app.callsOf('userCreated')).toHaveLength(1);

    const other = (await run(['secret'])).stdout.trimEnd();
    const refused = await run(['trigger', 'user_created', '--url', app.url, '--secret', other, '--no-state']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('invalid_signature');
    expect(app.callsOf('userCreated')).toHaveLength(1);
  });

  it('--json prints { "secret": … } alone on stdout; from the built bin too', async () => {
    const { code, stdout } = await run(['secret', '--json']);
    expect(code).toBe(0);
    expect(Object.keys(JSON.parse(stdout))).toEqual(['secret']);
    expect(JSON.parse(stdout).secret).toMatch(SECRET);
    const bin = await runBin(['secret']);
    expect(bin.code, bin.stderr).toBe(0);
    expect(bin.stdout.trimEnd()).toMatch(SECRET);
    expect((await run(['secret', 'extra'])).code).toBe(2);
  });
});
