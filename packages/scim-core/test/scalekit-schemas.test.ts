import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  formatNanos,
  normalizeScalekitEvent,
  parseRfc3339Nanos,
  parseScalekitEvent,
  SCALEKIT_DIRECTORY_EVENT_TYPES,
  type ScalekitDirectoryEvent,
} from '../src/index.js';

const envelope = {
  spec_version: '1',
  occurred_at: '2025-01-06T18:44:25.153954Z',
  environment_id: 'env_53814739859406915',
  organization_id: 'org_1',
};

const samples: Record<string, { object: string; data: Record<string, unknown> }> = {
  'organization.directory_enabled': {
    object: 'Directory',
    data: {
      id: 'dir_1',
      organization_id: 'org_1',
      directory_type: 'SCIM',
      provider: 'OKTA',
      enabled: true,
      updated_at: '2025-01-06T18:44:25Z',
    },
  },
  'organization.directory_disabled': {
    object: 'Directory',
    data: { id: 'dir_1', organization_id: 'org_1', enabled: false },
  },
  'organization.directory.user_created': {
    object: 'DirectoryUser',
    data: {
      id: 'diruser_1',
      organization_id: 'org_1',
      email: 'a@example.com',
      active: true,
      groups: [{ id: 'dirgroup_1', name: 'G' }],
    },
  },
  'organization.directory.user_updated': {
    object: 'DirectoryUser',
    data: { id: 'diruser_1', organization_id: 'org_1' },
  },
  'organization.directory.user_deleted': {
    object: 'DirectoryUser',
    data: { id: 'diruser_1', organization_id: 'org_1', dp_id: 'okta-1', email: 'a@example.com' },
  },
  'organization.directory.group_created': {
    object: 'DirectoryGroup',
    data: { id: 'dirgroup_1', organization_id: 'org_1', directory_id: 'dir_1', display_name: 'Eng', external_id: null },
  },
  'organization.directory.group_updated': {
    object: 'DirectoryGroup',
    data: { id: 'dirgroup_1', organization_id: 'org_1', display_name: 'R&D', external_id: 'ext-1' },
  },
  'organization.directory.group_deleted': {
    object: 'DirectoryGroup',
    data: { id: 'dirgroup_1', organization_id: 'org_1', display_name: 'R&D', dp_id: 'ext-1' },
  },
};

describe('Scalekit event schemas', () => {
  it('covers exactly the eight organization.directory* types', () => {
    expect([...SCALEKIT_DIRECTORY_EVENT_TYPES].sort()).toEqual(Object.keys(samples).sort());
  });

  for (const [type, { object, data }] of Object.entries(samples)) {
    it(`parses ${type}, keeping unknown keys`, () => {
      const result = parseScalekitEvent({
        ...envelope,
        id: 'evt_1',
        type,
        object,
        data: { ...data, future_field: 1 },
        extra: true,
      });
      expect(result.success).toBe(true);
      if (!result.success || result.value.kind !== 'directory') throw new Error('expected a directory event');
      expect(result.value.event.type).toBe(type);
      expect((result.value.event.data as Record<string, unknown>).future_field).toBe(1);
    });
  }

  it('narrows data by type (a discriminated union)', () => {
    const result = parseScalekitEvent({
      ...envelope,
      id: 'evt_1',
      type: 'organization.directory.group_created',
      ...samples['organization.directory.group_created'],
    });
    if (!result.success || result.value.kind !== 'directory') throw new Error('expected a directory event');
    const event: ScalekitDirectoryEvent = result.value.event;
    if (event.type === 'organization.directory.group_created') {
      expectTypeOf(event.data.display_name).toEqualTypeOf<string | null | undefined>();
      expect(event.data.display_name).toBe('Eng');
    }
  });

  it('rejects a directory event whose object does not match its type', () => {
    const result = parseScalekitEvent({
      ...envelope,
      id: 'evt_1',
      type: 'organization.directory.user_created',
      object: 'DirectoryGroup',
      data: { id: 'x', organization_id: 'o' },
    });
    expect(result.success).toBe(false);
  });

  it('passes other types through with their data untouched, legacy beta names included', () => {
    for (const type of ['organization.created', 'user.signup', 'scalekit.dir.user.create']) {
      const result = parseScalekitEvent({
        ...envelope,
        id: 'evt_2',
        type,
        object: 'Whatever',
        data: { anything: [1, 2] },
      });
      expect(result.success && result.value.kind).toBe('other');
    }
  });

  it('normalizes a user: dp_id → externalId, sorted groups and roles, other fields kept as attributes', () => {
    const result = parseScalekitEvent({
      ...envelope,
      id: 'evt_3',
      type: 'organization.directory.user_updated',
      object: 'DirectoryUser',
      data: {
        id: 'diruser_1',
        organization_id: 'org_1',
        dp_id: 'okta-1',
        preferred_username: 'ada',
        email: 'ada@example.com',
        given_name: 'Ada',
        family_name: null,
        department: 'R&D',
        roles: [{ role_name: 'member' }, { role_name: 'admin' }],
        groups: [{ id: 'dirgroup_b', name: 'B' }, { id: 'dirgroup_a' }],
        custom_attributes: { tier: 'gold' },
      },
    });
    if (!result.success) throw new Error('expected success');
    expect(normalizeScalekitEvent(result.value)).toEqual({
      id: 'evt_3',
      organizationId: 'org_1',
      environmentId: 'env_53814739859406915',
      occurredAt: '2025-01-06T18:44:25.153954Z',
      source: 'scalekit',
      sourceType: 'organization.directory.user_updated',
      type: 'user.upserted',
      user: {
        id: 'diruser_1',
        organizationId: 'org_1',
        origin: 'scalekit',
        externalId: 'okta-1',
        userName: 'ada',
        email: 'ada@example.com',
        givenName: 'Ada',
        active: true,
        groups: [{ id: 'dirgroup_a' }, { id: 'dirgroup_b', name: 'B' }],
        roles: ['admin', 'member'],
        attributes: { department: 'R&D' },
        customAttributes: { tier: 'gold' },
      },
    });
  });

  it('reads group_deleted dp_id as the external id', () => {
    const result = parseScalekitEvent({
      ...envelope,
      id: 'evt_4',
      type: 'organization.directory.group_deleted',
      ...samples['organization.directory.group_deleted'],
    });
    if (!result.success) throw new Error('expected success');
    expect(normalizeScalekitEvent(result.value)).toMatchObject({
      type: 'group.deleted',
      group: { externalId: 'ext-1' },
    });
  });
});

describe('RFC 3339 with nanoseconds', () => {
  it('keeps all nine fractional digits', () => {
    expect(parseRfc3339Nanos('2025-01-06T18:44:25.153954123Z')).toBe(1_736_189_065_153_954_123n);
    expect(
      parseRfc3339Nanos('2025-01-06T18:44:25.153954124Z')! - parseRfc3339Nanos('2025-01-06T18:44:25.153954123Z')!,
    ).toBe(1n);
  });

  it('honours offsets and treats fewer digits as zero-padded', () => {
    expect(parseRfc3339Nanos('2025-01-06T20:44:25.5+02:00')).toBe(parseRfc3339Nanos('2025-01-06T18:44:25.500000000Z'));
  });

  it('rejects what is not RFC 3339', () => {
    for (const bad of [
      '2025-01-06 18:44:25Z',
      '2025-01-06T18:44:25',
      '2025-02-30T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2025-01-06T24:00:00Z',
      '2025-01-06T18:44:25+24:00',
      '2025-01-06T18:44:25.1234567890Z',
      'yesterday',
    ]) {
      expect(parseRfc3339Nanos(bad), bad).toBeUndefined();
    }
  });

  it('agrees with Date for any instant, offset and sub-millisecond digits (property)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9998-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999_999 }),
        fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
        (date, subMillis, offset) => {
          const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 23);
          const sign = offset < 0 ? '-' : '+';
          const abs = Math.abs(offset);
          const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          const text = `${local}${String(subMillis).padStart(6, '0')}${zone}`;
          expect(parseRfc3339Nanos(text)).toBe(BigInt(date.getTime()) * 1_000_000n + BigInt(subMillis));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('formats and parses back to the same nanosecond', () => {
    const nanos = 1_736_189_065_000_000_007n;
    expect(parseRfc3339Nanos(formatNanos(nanos))).toBe(nanos);
  });
});
