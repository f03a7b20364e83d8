/**
 * `scalekit.v1.directories.DirectoryService`, served from the descriptors inside the SDK. Methods
 * not implemented here answer `Unimplemented` (connect's default).
 */
import { create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  DirectoryProvider,
  type DirectorySchema,
  DirectoryService,
  DirectoryType,
  type DirectoryUserSchema,
  GetDirectoryResponseSchema,
  ListDirectoriesResponseSchema,
  ListDirectoryGroupsResponseSchema,
  ListDirectoryUsersResponseSchema,
  ToggleDirectoryResponseSchema,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/directories/directories_pb.js';
import { pageOf } from './paging.js';
import { groupPayload, userPayload } from './payloads.js';
import type { DirectoryRecord, GroupRecord, UserRecord } from './records.js';
import type { DirectoryState } from './state.js';
import { nanosFromTimestamp, notFound, timestampFromNanos } from './wire.js';

export interface ServiceContext {
  state: DirectoryState;
  /** `http://127.0.0.1:<port>`, known once the server listens. */
  baseUrl: () => string;
  maxPageSize: number;
}

function providerEnum(provider: string): DirectoryProvider {
  const value = (DirectoryProvider as unknown as Record<string, unknown>)[provider.toUpperCase()];
  return typeof value === 'number' ? value : DirectoryProvider.DIRECTORY_PROVIDER_UNSPECIFIED;
}

function directoryMessage(directory: DirectoryRecord, baseUrl: string): MessageInitShape<typeof DirectorySchema> {
  return {
    id: directory.id,
    name: directory.provider,
    directoryType: DirectoryType.SCIM,
    organizationId: directory.organizationId,
    enabled: directory.enabled,
    directoryProvider: providerEnum(directory.provider),
    directoryEndpoint: `${baseUrl}/api/v1/directories/${directory.id}/scim/v2`,
    totalUsers: directory.users.size,
    totalGroups: directory.groups.size,
    stats: { totalUsers: directory.users.size, totalGroups: directory.groups.size },
    status: 'COMPLETED',
  };
}

function userMessage(
  user: UserRecord,
  directory: DirectoryRecord,
  includeDetail: boolean,
): MessageInitShape<typeof DirectoryUserSchema> {
  const message: MessageInitShape<typeof DirectoryUserSchema> = {
    id: user.id,
    email: user.email ?? '',
    preferredUsername: user.preferredUsername ?? '',
    givenName: user.givenName ?? '',
    familyName: user.familyName ?? '',
    updatedAt: timestampFromNanos(user.updatedAtNanos),
    emails: user.email === undefined ? [] : [user.email],
    groups: user.groups.map((id) => ({ id, displayName: directory.groups.get(id)?.displayName ?? id })),
  };
  if (includeDetail) message.userDetail = userPayload(user, directory.groups) as JsonObject;
  return message;
}

/** Looks the directory up for a gRPC call: `NotFound` for an unknown organization or directory. */
function findDirectory(state: DirectoryState, organizationId: string, directoryId: string): DirectoryRecord {
  const organization = state.organizations.get(organizationId);
  if (!organization) throw notFound(`organization ${organizationId}`);
  const directory = organization.directories.find((d) => d.id === directoryId);
  if (!directory) throw notFound(`directory ${directoryId}`);
  return directory;
}

export function createDirectoryService(context: ServiceContext): Partial<ServiceImpl<typeof DirectoryService>> {
  const { state } = context;
  return {
    listDirectories(request) {
      const organization = state.organizations.get(request.organizationId);
      if (!organization) throw notFound(`organization ${request.organizationId}`);
      const baseUrl = context.baseUrl();
      return create(ListDirectoriesResponseSchema, {
        directories: organization.directories.map((d) => directoryMessage(d, baseUrl)),
      });
    },

    getDirectory(request) {
      const directory = findDirectory(state, request.organizationId, request.id);
      return create(GetDirectoryResponseSchema, { directory: directoryMessage(directory, context.baseUrl()) });
    },

    enableDirectory(request) {
      const directory = findDirectory(state, request.organizationId, request.id);
      state.setDirectoryEnabled(directory, true);
      return create(ToggleDirectoryResponseSchema, { enabled: directory.enabled });
    },

    disableDirectory(request) {
      const directory = findDirectory(state, request.organizationId, request.id);
      state.setDirectoryEnabled(directory, false);
      return create(ToggleDirectoryResponseSchema, { enabled: directory.enabled });
    },

    listDirectoryUsers(request) {
      const directory = findDirectory(state, request.organizationId, request.directoryId);
      const groupId = request.directoryGroupId || undefined;
      if (groupId !== undefined && !directory.groups.has(groupId)) throw notFound(`directory group ${groupId}`);
      const ids = state.view(directory, 'users', {
        groupId,
        updatedAfterNanos: request.updatedAfter ? nanosFromTimestamp(request.updatedAfter) : undefined,
      });
      const page = pageOf(ids, request, context.maxPageSize);
      const includeDetail = request.includeDetail === true;
      return create(ListDirectoryUsersResponseSchema, {
        users: page.ids.map((id) => userMessage(directory.users.get(id) as UserRecord, directory, includeDetail)),
        totalSize: page.totalSize,
        nextPageToken: page.nextPageToken,
        prevPageToken: page.prevPageToken,
      });
    },

    listDirectoryGroups(request) {
      const directory = findDirectory(state, request.organizationId, request.directoryId);
      const ids = state.view(directory, 'groups', {
        updatedAfterNanos: request.updatedAfter ? nanosFromTimestamp(request.updatedAfter) : undefined,
      });
      const page = pageOf(ids, request, context.maxPageSize);
      const includeDetail = request.includeDetail === true;
      return create(ListDirectoryGroupsResponseSchema, {
        groups: page.ids.map((id) => {
          const group = directory.groups.get(id) as GroupRecord;
          return {
            id: group.id,
            displayName: group.displayName,
            totalUsers: group.memberIds.length,
            updatedAt: timestampFromNanos(group.updatedAtNanos),
            ...(includeDetail && { groupDetail: groupPayload(group) as JsonObject }),
          };
        }),
        totalSize: page.totalSize,
        nextPageToken: page.nextPageToken,
        prevPageToken: page.prevPageToken,
      });
    },
  };
}

export { DirectoryService };
