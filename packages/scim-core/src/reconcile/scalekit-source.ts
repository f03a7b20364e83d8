/**
 * The Scalekit Directory API as a `DirectorySource`, on the app's own `@scalekit-sdk/node` client.
 *
 * The client is typed structurally (only the calls used here), so core needs no runtime dependency
 * on the SDK and any 2.x client fits. Facts this relies on are in SCALEKIT.md §3: proto3 strings
 * are `''` when unset, timestamps are `{ seconds: bigint, nanos }`, `userDetail` carries what
 * webhooks carry (so both paths normalize to the same user), and the last page's token is `''`.
 */
import type { Directory, DirectoryGroup } from '../model.js';
import {
  checkArgument,
  describeValue,
  NEW_SCALEKIT_CLIENT,
  optionalBoolean,
  optionsObject,
  type Report,
  validateOptions,
} from '../options.js';
import { frozenThrough, normalizeScalekitUser } from '../scalekit/normalize.js';
import { scalekitDirectoryUserSchema } from '../scalekit/schemas.js';
import {
  type DirectoryRef,
  type DirectorySource,
  DirectorySourceError,
  type DirectorySourceErrorCode,
  type SourceGroup,
  type SourceOrganization,
  type SourcePage,
  type SourceUser,
} from './source.js';

interface Timestamp {
  readonly seconds: bigint;
  readonly nanos: number;
}

interface ApiGroup {
  readonly id: string;
  readonly displayName: string;
  readonly updatedAt?: Timestamp | undefined;
  readonly groupDetail?: Record<string, unknown> | undefined;
}

interface ApiUser {
  readonly id: string;
  readonly email: string;
  readonly preferredUsername: string;
  readonly givenName: string;
  readonly familyName: string;
  readonly updatedAt?: Timestamp | undefined;
  readonly groups: readonly ApiGroup[];
  readonly userDetail?: Record<string, unknown> | undefined;
}

interface ApiDirectory {
  readonly id: string;
  readonly organizationId: string;
  readonly enabled: boolean;
}

interface PageOptions {
  pageSize?: number;
  pageToken?: string;
  includeDetail?: boolean;
  updatedAfter?: string;
}

/** The part of `ScalekitClient` this source calls. A `new ScalekitClient(…)` is one. */
export interface ScalekitDirectoryClient {
  readonly directory: {
    getDirectory(organizationId: string, directoryId: string): Promise<{ directory?: ApiDirectory | undefined }>;
    getPrimaryDirectoryByOrganizationId(organizationId: string): Promise<ApiDirectory>;
    listDirectoryUsers(
      organizationId: string,
      directoryId: string,
      options?: PageOptions & { directoryGroupId?: string },
    ): Promise<{ users: readonly ApiUser[]; nextPageToken: string }>;
    listDirectoryGroups(
      organizationId: string,
      directoryId: string,
      options?: PageOptions,
    ): Promise<{ groups: readonly ApiGroup[]; nextPageToken: string }>;
  };
  readonly organization: {
    listOrganization(options?: {
      pageSize?: number;
      pageToken?: string;
    }): Promise<{ organizations: readonly { id: string; displayName?: string }[]; nextPageToken: string }>;
  };
}

export interface ScalekitSourceOptions {
  /**
   * Ask for `userDetail`, which alone carries `active`, `dp_id`, roles and profile attributes.
   * Default true; without it the reconciler keeps those fields from the mirror and cannot see a
   * user turned inactive.
   */
  includeDetail?: boolean;
}

const nanosOf = (timestamp: Timestamp | undefined): bigint | undefined =>
  timestamp === undefined ? undefined : timestamp.seconds * 1_000_000_000n + BigInt(timestamp.nanos);

/** Proto3 leaves unset strings as `''`. */
const present = (value: string): string | undefined => (value === '' ? undefined : value);

function toSourceUser(api: ApiUser, organizationId: string, withDetail: boolean): SourceUser {
  const listed = {
    id: api.id,
    organization_id: organizationId,
    email: present(api.email),
    preferred_username: present(api.preferredUsername),
    given_name: present(api.givenName),
    family_name: present(api.familyName),
    groups: api.groups.map((g) => ({ id: g.id, name: present(g.displayName) })),
  };
  // The detail is an undocumented JSON object: read it through the webhook's (loose) schema, and
  // fall back to the listed fields when it does not fit.
  // Object.assign, not `{ ...listed, ...detail }`: on Node 20 that spread of two ~20-key objects
  // costs about 35 µs per user (measured for bench/reconcile.ts), more than all the rest here.
  // A detail with its own `__proto__` key is not used: `Object.assign` (and zod's copy of unknown
  // keys) would assign through it and set the copy's prototype.
  const detail =
    withDetail && api.userDetail && !Object.hasOwn(api.userDetail, '__proto__')
      ? scalekitDirectoryUserSchema.safeParse(Object.assign({}, listed, api.userDetail))
      : undefined;
  const complete = detail?.success === true;
  // Frozen through, it is what the memory store would have copied it into: the store keeps it as
  // its row without a copy, and with it the fingerprint the reconciler computed of it, which the
  // next run then does not compute again.
  const user = frozenThrough(normalizeScalekitUser(complete ? detail.data : scalekitDirectoryUserSchema.parse(listed)));
  const updatedAt = nanosOf(api.updatedAt);
  return updatedAt === undefined ? { user, complete } : { user, complete, updatedAt };
}

function toSourceGroup(api: ApiGroup, directory: DirectoryRef): SourceGroup {
  const group: DirectoryGroup = {
    id: api.id,
    organizationId: directory.organizationId,
    directoryId: directory.directoryId,
    displayName: api.displayName,
    origin: 'scalekit',
  };
  const externalId = api.groupDetail?.external_id;
  if (typeof externalId === 'string' && externalId !== '') group.externalId = externalId;
  const updatedAt = nanosOf(api.updatedAt);
  return updatedAt === undefined ? { group } : { group, updatedAt };
}

const GRPC_CODES: Record<number, DirectorySourceErrorCode> = {
  3: 'invalid_request', // InvalidArgument
  4: 'unavailable', // DeadlineExceeded
  5: 'not_found', // NotFound
  7: 'unauthorized', // PermissionDenied
  8: 'rate_limited', // ResourceExhausted
  9: 'invalid_request', // FailedPrecondition
  11: 'invalid_request', // OutOfRange
  14: 'unavailable', // Unavailable
  16: 'unauthorized', // Unauthenticated
};

const HINTS: Partial<Record<DirectorySourceErrorCode, string>> = {
  unauthorized: 'Check SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET.',
  unavailable: 'Check SCALEKIT_ENVIRONMENT_URL and that Scalekit is reachable.',
  rate_limited: 'Scalekit is rate limiting this client.',
};

/**
 * Turns whatever the SDK rejected with into a `DirectorySourceError`: its `ScalekitServerException`s
 * (`grpcStatus`), a raw `AxiosError` from the token call (wrong credentials), a plain string (no
 * primary directory), or a connection error.
 */
export function toDirectorySourceError(error: unknown, action: string): DirectorySourceError {
  if (error instanceof DirectorySourceError) return error;
  let code: DirectorySourceErrorCode = 'remote_error';
  let detail: string;
  if (typeof error === 'string') {
    code = /does not exist|not found/i.test(error) ? 'not_found' : 'remote_error';
    detail = error;
  } else if (typeof error === 'object' && error !== null) {
    const e = error as {
      grpcStatus?: unknown;
      code?: unknown;
      isAxiosError?: unknown;
      response?: { status?: unknown };
      message?: unknown;
    };
    const status = typeof e.response?.status === 'number' ? e.response.status : undefined;
    if (typeof e.grpcStatus === 'number') code = GRPC_CODES[e.grpcStatus] ?? 'remote_error';
    else if (e.isAxiosError === true && status !== undefined) {
      code =
        status === 401 || status === 400 || status === 403
          ? 'unauthorized'
          : status === 429
            ? 'rate_limited'
            : 'remote_error';
    } else if (e.isAxiosError === true || (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)))
      code = 'unavailable';
    else if (typeof e.code === 'number') code = GRPC_CODES[e.code] ?? 'remote_error';
    detail = typeof e.message === 'string' && e.message !== '' ? e.message : String(error);
    if (status !== undefined) detail = `HTTP ${status}: ${detail}`;
  } else {
    detail = String(error);
  }
  const hint = HINTS[code];
  return new DirectorySourceError(code, `Scalekit failed to ${action}: ${detail.trim()}${hint ? ` ${hint}` : ''}`, {
    cause: error,
  });
}

async function call<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toDirectorySourceError(error, action);
  }
}

/** A page of the environment's organizations (`organization.listOrganization`). */
export async function listScalekitOrganizations(
  client: Pick<ScalekitDirectoryClient, 'organization'>,
  request: { readonly pageToken?: string; readonly pageSize: number },
): Promise<SourcePage<SourceOrganization>> {
  const response = await call('list organizations', () =>
    client.organization.listOrganization({
      pageSize: request.pageSize,
      ...(request.pageToken !== undefined && { pageToken: request.pageToken }),
    }),
  );
  return {
    items: response.organizations.map((o) => (o.displayName ? { id: o.id, displayName: o.displayName } : { id: o.id })),
    nextPageToken: present(response.nextPageToken),
  };
}

/** What the source calls on the client, by service. */
const CLIENT_METHODS = {
  directory: ['getDirectory', 'getPrimaryDirectoryByOrganizationId', 'listDirectoryUsers', 'listDirectoryGroups'],
  organization: ['listOrganization'],
} as const satisfies { [S in keyof ScalekitDirectoryClient]: readonly (keyof ScalekitDirectoryClient[S])[] };

/** A `ScalekitClient`, or anything with the calls this source makes; the message lists what is missing. */
function checkClient(client: unknown, report: Report): void {
  if (client === undefined) {
    report(`is missing: pass ${NEW_SCALEKIT_CLIENT}`);
    return;
  }
  if (typeof client !== 'object' || client === null) {
    report(`must be a ScalekitClient (${NEW_SCALEKIT_CLIENT}), got ${describeValue(client)}`);
    return;
  }
  const missing = Object.entries(CLIENT_METHODS).flatMap(([service, methods]) => {
    const api = (client as Record<string, unknown>)[service] as Record<string, unknown> | undefined;
    return methods.filter((m) => typeof api?.[m] !== 'function').map((m) => `${service}.${m}`);
  });
  if (missing.length > 0) {
    report(
      `must be a ScalekitClient (${NEW_SCALEKIT_CLIENT}) or an object with the same calls, got ${describeValue(client)}, which has no ${missing.join(', ')}`,
    );
  }
}

const sourceOptions = optionsObject({ includeDetail: optionalBoolean }, '{ includeDetail? }');

/**
 * A `DirectorySource` on Scalekit's Directory API. Throws an `OptionsError` when `client` lacks a call
 * it makes (`directory.listDirectoryUsers`, …): pass `new ScalekitClient(…)` itself.
 */
export function scalekitDirectorySource(
  client: ScalekitDirectoryClient,
  options: ScalekitSourceOptions = {},
): DirectorySource {
  checkArgument('scalekitDirectorySource', 'client', client, checkClient);
  validateOptions('scalekitDirectorySource', sourceOptions, options);
  const includeDetail = options.includeDetail ?? true;
  const page = (request: { pageToken?: string; pageSize: number; updatedAfter?: Date }): PageOptions => ({
    pageSize: request.pageSize,
    ...(request.pageToken !== undefined && { pageToken: request.pageToken }),
    ...(request.updatedAfter !== undefined && { updatedAfter: request.updatedAfter.toISOString() }),
    includeDetail,
  });
  return {
    async resolveDirectory(organizationId, directoryId) {
      const api = await call(`find the directory of organization ${organizationId}`, async () => {
        if (directoryId === undefined) return client.directory.getPrimaryDirectoryByOrganizationId(organizationId);
        const { directory } = await client.directory.getDirectory(organizationId, directoryId);
        if (!directory) throw new DirectorySourceError('not_found', `Scalekit has no directory ${directoryId}.`);
        return directory;
      });
      const directory: Directory = { id: api.id, organizationId, enabled: api.enabled };
      return directory;
    },

    async listUsers(directory, request) {
      const { organizationId, directoryId } = directory;
      const response = await call(`list the users of directory ${directoryId}`, () =>
        client.directory.listDirectoryUsers(organizationId, directoryId, {
          ...page(request),
          ...(request.groupId !== undefined && { directoryGroupId: request.groupId }),
        }),
      );
      return {
        items: response.users.map((u) => toSourceUser(u, organizationId, includeDetail)),
        nextPageToken: present(response.nextPageToken),
      };
    },

    async listGroups(directory, request) {
      const response = await call(`list the groups of directory ${directory.directoryId}`, () =>
        client.directory.listDirectoryGroups(directory.organizationId, directory.directoryId, page(request)),
      );
      return {
        items: response.groups.map((g) => toSourceGroup(g, directory)),
        nextPageToken: present(response.nextPageToken),
      };
    },

    listOrganizations: (request) => listScalekitOrganizations(client, request),
  };
}
