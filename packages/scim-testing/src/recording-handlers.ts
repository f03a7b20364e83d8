/** Handlers that record every call, for the suites that check what the app was told. */
import type { ProvisioningHandlers } from '@org/scim-core';

/** The argument the user, group and membership handlers receive, as far as a recorder reads it. */
export interface RecordedCall {
  readonly user?: { readonly id?: string; readonly userName?: string };
  readonly group?: { readonly id?: string; readonly displayName?: string };
  readonly reason?: string;
}

/** Every user, group and membership handler, each calling `record(name, argument)`. */
export function recordingHandlers(record: (handler: string, call: RecordedCall) => void): ProvisioningHandlers {
  const to = (handler: string) => (call: RecordedCall) => record(handler, call);
  return {
    userCreated: to('userCreated'),
    userUpdated: to('userUpdated'),
    userDeactivated: to('userDeactivated'),
    userReactivated: to('userReactivated'),
    groupCreated: to('groupCreated'),
    groupUpdated: to('groupUpdated'),
    groupDeleted: to('groupDeleted'),
    membershipAdded: to('membershipAdded'),
    membershipRemoved: to('membershipRemoved'),
  };
}
