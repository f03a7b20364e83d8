import { describe, expect, it } from 'vitest';
import { isSessionExpired, type PortalEvent, parsePortalMessage } from '../src/index.js';

const sso = { connection_type: 'SSO', id: 'conn_1', type: 'SAML', provider: 'OKTA', enabled: true };
const directory = { directory_type: 'SCIM', id: 'dir_1', provider: 'AZURE_AD', enabled: false };

describe('parsePortalMessage', () => {
  it.each([
    ['ORGANIZATION_SSO_ENABLED', sso],
    ['ORGANIZATION_SSO_DISABLED', { ...sso, type: 'OIDC', enabled: false }],
    ['ORGANIZATION_DIRECTORY_ENABLED', { ...directory, enabled: true }],
    ['ORGANIZATION_DIRECTORY_DISABLED', directory],
    ['PORTAL_LOAD_FAILURE', { error_code: 'SESSION_EXPIRED' }],
    ['PORTAL_LOAD_FAILURE', { error_code: 'SOMETHING_ELSE' }],
  ])('types %s with its data under the wire names', (eventType, data) => {
    const raw = { event_type: eventType, object: 'thing', organization_id: 'org_1', message: 'hello', data };
    expect(parsePortalMessage(raw)).toEqual({
      type: eventType,
      event_type: eventType,
      object: 'thing',
      organization_id: 'org_1',
      message: 'hello',
      data,
      raw,
    });
  });

  it.each(['PORTAL_LOAD_SUCCESS', 'PORTAL_SESSION_WARNING', 'PORTAL_SESSION_EXPIRY'])(
    'types %s and parses its expiry into a Date',
    (eventType) => {
      const event = parsePortalMessage({ event_type: eventType, data: { expiry: '2030-01-01T00:00:00Z' } });
      expect(event).toMatchObject({ type: eventType, data: { expiry: '2030-01-01T00:00:00Z' } });
      expect(event && 'expiry' in event ? event.expiry : undefined).toEqual(new Date('2030-01-01T00:00:00Z'));
    },
  );

  it('reads a numeric expiry as Unix seconds or milliseconds, and keeps session events without one', () => {
    const expiry = (data: unknown) => {
      const event = parsePortalMessage({ event_type: 'PORTAL_SESSION_EXPIRY', data });
      return event?.type === 'PORTAL_SESSION_EXPIRY' ? event.expiry?.toISOString() : event?.type;
    };
    expect(expiry({ expiry: 1_893_456_000 })).toBe('2030-01-01T00:00:00.000Z');
    expect(expiry({ expiry: 1_893_456_000_000 })).toBe('2030-01-01T00:00:00.000Z');
    expect(expiry({ expiry: 'next tuesday' })).toBeUndefined();
    expect(expiry({})).toBeUndefined();
    expect(expiry(undefined)).toBeUndefined();
    expect(parsePortalMessage({ event_type: 'PORTAL_SESSION_EXPIRY' })?.type).toBe('PORTAL_SESSION_EXPIRY');
  });

  it('passes unknown event types through as `unknown`', () => {
    const raw = { event_type: 'ORGANIZATION_DOMAIN_VERIFIED', organization_id: 'org_1', data: { domain: 'a.com' } };
    expect(parsePortalMessage(raw)).toEqual({
      type: 'unknown',
      event_type: 'ORGANIZATION_DOMAIN_VERIFIED',
      organization_id: 'org_1',
      object: undefined,
      message: undefined,
      data: { domain: 'a.com' },
      raw,
    });
  });

  it.each([
    ['SSO data without an id', { event_type: 'ORGANIZATION_SSO_ENABLED', data: { ...sso, id: undefined } }],
    ['SSO data with a string `enabled`', { event_type: 'ORGANIZATION_SSO_DISABLED', data: { ...sso, enabled: 'no' } }],
    [
      'directory data without a provider',
      { event_type: 'ORGANIZATION_DIRECTORY_ENABLED', data: { ...directory, provider: 1 } },
    ],
    ['a load failure without error_code', { event_type: 'PORTAL_LOAD_FAILURE', data: {} }],
    ['a session event with an object expiry', { event_type: 'PORTAL_SESSION_WARNING', data: { expiry: {} } }],
    ['a session event whose data is a string', { event_type: 'PORTAL_LOAD_SUCCESS', data: 'soon' }],
  ])('reports a known type with malformed data (%s) as unknown', (_, raw) => {
    expect(parsePortalMessage(raw)).toMatchObject({ type: 'unknown', event_type: raw.event_type, raw });
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'PORTAL_SESSION_EXPIRY'],
    ['a number', 42],
    ['an array', [{ event_type: 'PORTAL_SESSION_EXPIRY' }]],
    ['an object without event_type', { type: 'webpackOk' }],
    ['a non-string event_type', { event_type: 7 }],
    ['an empty event_type', { event_type: '' }],
  ])('returns undefined for %s, which is no portal message', (_, raw) => {
    expect(parsePortalMessage(raw)).toBeUndefined();
  });

  it('never throws, whatever it is given', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
      },
    );
    const values = [Symbol('x'), () => 1, new Date(), Object.create(null), { event_type: 'X', data: hostile }];
    for (const value of values) expect(() => parsePortalMessage(value)).not.toThrow();
  });

  it('drops fields of the wrong type instead of passing them on', () => {
    const event = parsePortalMessage({ event_type: 'ORGANIZATION_SSO_ENABLED', organization_id: 5, data: sso });
    expect(event?.organization_id).toBeUndefined();
  });
});

describe('isSessionExpired', () => {
  const expired = (raw: unknown) => isSessionExpired(parsePortalMessage(raw) as PortalEvent);
  it('is true for PORTAL_SESSION_EXPIRY and a SESSION_EXPIRED load failure only', () => {
    expect(expired({ event_type: 'PORTAL_SESSION_EXPIRY', data: {} })).toBe(true);
    expect(expired({ event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'SESSION_EXPIRED' } })).toBe(true);
    expect(expired({ event_type: 'PORTAL_LOAD_FAILURE', data: { error_code: 'FORBIDDEN' } })).toBe(false);
    expect(expired({ event_type: 'PORTAL_SESSION_WARNING', data: {} })).toBe(false);
    expect(expired({ event_type: 'SESSION_EXPIRED', data: {} })).toBe(false);
  });
});
