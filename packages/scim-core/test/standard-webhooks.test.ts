import { randomBytes } from 'node:crypto';
import { ScalekitClient } from '@scalekit-sdk/node';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  createWebhookVerifier,
  decodeWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
} from '../src/index.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const otherSecret = `whsec_${randomBytes(32).toString('base64')}`;
const NOW = 1_750_000_000_000;
const now = () => NOW;
const ts = NOW / 1000;
// Non-ASCII and an emoji, so a verifier that re-encodes the body would fail.
const payload = JSON.stringify({
  id: 'evt_1',
  type: 'organization.directory.user_updated',
  data: { name: 'Zoë Łukasz 🚀' },
});

// The SDK's constructor makes no network call; verifyWebhookPayload is pure.
const scalekit = new ScalekitClient('http://127.0.0.1:1', 'client', 'secret');

function expectCode(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect((error as WebhookVerificationError).code).toBe(code);
    return;
  }
  throw new Error(`expected WebhookVerificationError ${code}`);
}

describe('interop: what our signer produces', () => {
  const headers = signWebhook({ secret, id: 'msg_1', timestamp: Math.floor(Date.now() / 1000), payload });

  it('is accepted by @scalekit-sdk/node verifyWebhookPayload', () => {
    expect(scalekit.verifyWebhookPayload(secret, headers, payload)).toBe(true);
  });

  it('is accepted by the standardwebhooks package', () => {
    expect(new Webhook(secret).verify(payload, headers)).toEqual(JSON.parse(payload));
  });
});

describe('interop: what the reference signers produce', () => {
  it('is accepted when signed by the standardwebhooks package', () => {
    const signature = new Webhook(secret).sign('msg_2', new Date(NOW), payload);
    const headers = { 'webhook-id': 'msg_2', 'webhook-timestamp': String(ts), 'webhook-signature': signature };
    expect(verifyWebhook({ secret, now, headers, payload })).toEqual({ id: 'msg_2', timestamp: ts });
  });

  it('accepts exactly what @scalekit-sdk/node accepts for a well-formed delivery, and rejects what it rejects', () => {
    const good = signWebhook({ secret, id: 'msg_3', timestamp: Math.floor(Date.now() / 1000), payload });
    const tampered = {
      ...good,
      'webhook-signature': signWebhook({ secret: otherSecret, id: 'msg_3', payload })['webhook-signature'],
    };
    const verify = createWebhookVerifier({ secret });
    expect(scalekit.verifyWebhookPayload(secret, good, payload)).toBe(true);
    expect(verify(good, payload).id).toBe('msg_3');
    expect(() => scalekit.verifyWebhookPayload(secret, tampered, payload)).toThrow();
    expectCode(() => verify(tampered, payload), 'invalid_signature');
  });
});

describe('interop properties (fast-check)', () => {
  const deliveryArb = fc.record({
    payload: fc.string({ unit: 'grapheme', maxLength: 400 }),
    id: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
    offset: fc.integer({ min: -290, max: 290 }),
  });

  it('all three verifiers accept whatever the standardwebhooks package signs, and whatever ours signs', () => {
    fc.assert(
      fc.property(deliveryArb, ({ payload, id, offset }) => {
        const timestamp = Math.floor(Date.now() / 1000) + offset;
        const theirs = {
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': new Webhook(secret).sign(id, new Date(timestamp * 1000), payload),
        };
        const ours = signWebhook({ secret, id, timestamp, payload });
        expect(ours).toEqual(theirs);
        expect(verifyWebhook({ secret, headers: theirs, payload }).id).toBe(id);
        expect(scalekit.verifyWebhookPayload(secret, ours, payload)).toBe(true);
        expect(() => new Webhook(secret).verify(payload, ours, { jsonParse: false })).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('whatever the SDK or standardwebhooks accepts after tampering, ours accepts too (and vice versa)', () => {
    const mutation = fc.oneof(
      fc.constant('none'),
      fc.constant('flip-body'),
      fc.constant('other-id'),
      fc.constant('extra-signature-after'),
      fc.constant('other-secret'),
    );
    fc.assert(
      fc.property(deliveryArb, mutation, ({ payload, id, offset }, how) => {
        const timestamp = Math.floor(Date.now() / 1000) + offset;
        const headers: Record<string, string> = { ...signWebhook({ secret, id, timestamp, payload }) };
        let body = payload;
        if (how === 'flip-body') body = `${payload} `;
        if (how === 'other-id') headers['webhook-id'] = `${id}x`;
        if (how === 'extra-signature-after')
          headers['webhook-signature'] += ` v1,${randomBytes(32).toString('base64')}`;
        if (how === 'other-secret')
          headers['webhook-signature'] = signWebhook({ secret: otherSecret, id, timestamp, payload })[
            'webhook-signature'
          ];
        const accepts = (fn: () => unknown) => {
          try {
            fn();
            return true;
          } catch {
            return false;
          }
        };
        const sdk = accepts(() => scalekit.verifyWebhookPayload(secret, headers, body));
        const reference = accepts(() => new Webhook(secret).verify(body, headers, { jsonParse: false }));
        const ours = accepts(() => verifyWebhook({ secret, headers, payload: body }));
        expect(ours).toBe(reference);
        expect(ours).toBe(sdk);
        expect(ours).toBe(how === 'none' || how === 'extra-signature-after');
      }),
      { numRuns: 300 },
    );
  });
});

describe('verifyWebhook', () => {
  const headers = signWebhook({ secret, id: 'msg_1', timestamp: ts, payload });

  it('verifies the raw bytes as a Buffer as well as a string', () => {
    expect(verifyWebhook({ secret, now, headers, payload: Buffer.from(payload) }).id).toBe('msg_1');
  });

  it('rejects a re-serialised body (whitespace differs)', () => {
    expectCode(
      () => verifyWebhook({ secret, now, headers, payload: JSON.stringify(JSON.parse(payload), null, 1) }),
      'invalid_signature',
    );
  });

  it('reads header names in any case, from a plain object', () => {
    const shouting = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook({ secret, now, headers: shouting, payload }).id).toBe('msg_1');
  });

  it('reads a fetch Headers object', () => {
    expect(verifyWebhook({ secret, now, headers: new Headers(headers), payload }).id).toBe('msg_1');
  });

  it('accepts several signatures with a malformed one first (the SDK throws on this)', () => {
    const multi = {
      ...headers,
      'webhook-signature': `v1,abc v2,zzz v1,${'A'.repeat(44)} ${headers['webhook-signature']}`,
    };
    expect(verifyWebhook({ secret, now, headers: multi, payload }).id).toBe('msg_1');
    expect(() => scalekit.verifyWebhookPayload(secret, multi, payload)).toThrow();
  });

  it('accepts any of several secrets while rotating', () => {
    expect(verifyWebhook({ secret: [otherSecret, secret], now, headers, payload }).id).toBe('msg_1');
  });

  it('accepts the bare base64 secret without the whsec_ prefix', () => {
    expect(verifyWebhook({ secret: secret.slice('whsec_'.length), now, headers, payload }).id).toBe('msg_1');
  });

  it('rejects a timestamp with trailing garbage (the SDK parseInt accepts it)', () => {
    const digits = signWebhook({ secret, id: 'msg_1', timestamp: ts, payload });
    const garbage = { ...digits, 'webhook-timestamp': `${ts}abc` };
    expectCode(() => verifyWebhook({ secret, now, headers: garbage, payload }), 'invalid_timestamp');
  });

  it('applies the 300 s tolerance both ways, inclusively', () => {
    for (const [offset, code] of [
      [-301, 'timestamp_too_old'],
      [301, 'timestamp_too_new'],
    ] as const) {
      const h = signWebhook({ secret, id: 'msg_1', timestamp: ts + offset, payload });
      expectCode(() => verifyWebhook({ secret, now, headers: h, payload }), code);
    }
    for (const offset of [-300, 300]) {
      const h = signWebhook({ secret, id: 'msg_1', timestamp: ts + offset, payload });
      expect(verifyWebhook({ secret, now, headers: h, payload }).timestamp).toBe(ts + offset);
    }
  });

  it('names every missing header', () => {
    try {
      verifyWebhook({ secret, now, headers: { 'webhook-id': 'x' }, payload });
      expect.unreachable();
    } catch (error) {
      expect((error as WebhookVerificationError).code).toBe('missing_headers');
      expect((error as Error).message).toContain('webhook-timestamp, webhook-signature');
    }
  });

  it('rejects a signature made for another id (the id is signed)', () => {
    expectCode(
      () => verifyWebhook({ secret, now, headers: { ...headers, 'webhook-id': 'msg_other' }, payload }),
      'invalid_signature',
    );
  });

  it('refuses a secret that is not base64, at construction', () => {
    expect(() => decodeWebhookSecret('whsec_not base64!')).toThrow(WebhookVerificationError);
    expect(() => createWebhookVerifier({ secret: '' })).toThrow(/whsec_/);
  });
});
