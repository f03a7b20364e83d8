/**
 * The reconciler's pure parts: the deprovisioning guard's arithmetic, the mapping of whatever the
 * Scalekit SDK rejects with onto `DirectorySourceError` codes, and fingerprints. The reconciler
 * itself is tested end to end against the fake Scalekit in /integration.
 */
import { describe, expect, it } from 'vitest';
import { DirectorySourceError, fingerprintUser, toDirectorySourceError } from '../src/index.js';
import { checkGuard } from '../src/reconcile/guard.js';
import { user } from './helpers.js';

const defaults = { maxShare: 0.2, maxCount: 100 };

describe('the deprovisioning guard', () => {
  it('allows the share of the mirror, rounded down, but always at least one', () => {
    expect(checkGuard('users', 20, 100, 80, defaults)).toMatchObject({ allowed: 20, tripped: false });
    expect(checkGuard('users', 21, 100, 79, defaults)).toMatchObject({ allowed: 20, tripped: true });
    expect(checkGuard('users', 1, 3, 2, defaults)).toMatchObject({ allowed: 1, tripped: false });
    expect(checkGuard('users', 2, 3, 1, defaults)).toMatchObject({ allowed: 1, tripped: true });
  });

  it('caps the allowance at the absolute count however large the mirror', () => {
    expect(checkGuard('users', 101, 100_000, 99_899, defaults)).toMatchObject({ allowed: 100, tripped: true });
  });

  it('trips on an empty listing even where the share would allow it', () => {
    const check = checkGuard('users', 1, 1, 0, defaults);
    expect(check.tripped).toBe(true);
    expect(check.reason).toMatch(/returned no users while the mirror holds 1/);
    expect(check.reason).toMatch(/rerun with force/);
  });

  it('uses only the absolute count when the mirror size is unknown (incremental runs)', () => {
    expect(checkGuard('users', 50, undefined, 50, defaults)).toMatchObject({ allowed: 100, tripped: false });
    expect(checkGuard('users', 0, 10, 0, defaults).tripped).toBe(false);
  });
});

describe('errors from the Scalekit SDK', () => {
  const sdkException = (grpcStatus: number, message: string) => Object.assign(new Error(message), { grpcStatus });

  it.each([
    [16, 'unauthorized'],
    [7, 'unauthorized'],
    [5, 'not_found'],
    [8, 'rate_limited'],
    [14, 'unavailable'],
    [3, 'invalid_request'],
    [13, 'remote_error'],
  ] as const)('maps gRPC status %i to %s', (status, code) => {
    const error = toDirectorySourceError(sdkException(status, 'boom'), 'list users');
    expect(error).toBeInstanceOf(DirectorySourceError);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(/^Scalekit failed to list users: boom/);
  });

  it("maps the SDK's plain-string rejection for a missing directory to not_found", () => {
    const error = toDirectorySourceError('directory does not exist for organization', 'find the directory');
    expect(error).toMatchObject({ code: 'not_found', cause: 'directory does not exist for organization' });
  });

  it('maps a raw AxiosError from the token call to unauthorized, with the variables to check', () => {
    const axios = Object.assign(new Error('Request failed with status code 401'), {
      isAxiosError: true,
      response: { status: 401 },
    });
    const error = toDirectorySourceError(axios, 'list users');
    expect(error.code).toBe('unauthorized');
    expect(error.message).toMatch(/HTTP 401/);
    expect(error.message).toMatch(/SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET/);
  });

  it('maps a connection failure to unavailable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(toDirectorySourceError(refused, 'list users').code).toBe('unavailable');
  });
});

describe('fingerprints', () => {
  it('ignore key order at every depth, and see every value', () => {
    const a = user('diruser_a', { attributes: { title: 'CTO', address: { city: 'Oslo', zip: '0150' } } });
    const b = { ...a, attributes: { address: { zip: '0150', city: 'Oslo' }, title: 'CTO' } };
    expect(fingerprintUser(b)).toBe(fingerprintUser(a));
    expect(fingerprintUser({ ...a, roles: ['admin'] })).not.toBe(fingerprintUser(a));
    expect(fingerprintUser({ ...a, attributes: { ...a.attributes, title: 'CEO' } })).not.toBe(fingerprintUser(a));
  });
});
