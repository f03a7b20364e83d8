/** Directory events and users for the access tests: ids and `occurredAt` from one sequence per test file, each event newer than the last. */
import { type DirectoryEvent, type DirectoryUser, formatNanos } from '@org/scim-core';

const T0 = 1_750_000_000_000_000_000n;
let sequence = 0;

/** An event of `organizationId` (`change` gives its type and payload), `evt_<prefix>_<n>`, 1 ms after the previous one. */
export function accessEvent(prefix: string, organizationId: string, change: Record<string, unknown>): DirectoryEvent {
  sequence += 1;
  return {
    id: `evt_${prefix}_${sequence}`,
    organizationId,
    occurredAt: formatNanos(T0 + BigInt(sequence) * 1_000_000n),
    source: 'scalekit',
    sourceType: 'test',
    ...change,
  } as DirectoryEvent;
}

/** An active user with no groups or roles unless `extra` says otherwise. */
export const person = (organizationId: string, id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({
  id,
  organizationId,
  active: true,
  groups: [],
  roles: [],
  attributes: {},
  customAttributes: {},
  ...extra,
});
