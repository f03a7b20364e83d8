/**
 * `scalekit.v1.organizations.OrganizationService`: listing, lookup and admin portal links. Other
 * methods answer `Unimplemented` until they are added here.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  GeneratePortalLinkResponseSchema,
  GetOrganizationResponseSchema,
  ListOrganizationsResponseSchema,
  type OrganizationSchema,
  OrganizationService,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/organizations/organizations_pb.js';
import type { ServiceContext } from './directory-service.js';
import { pageOf } from './paging.js';
import type { PortalLinks } from './portal.js';
import type { OrganizationRecord } from './records.js';
import { notFound, timestampFromMillis, timestampFromNanos } from './wire.js';

function organizationMessage(organization: OrganizationRecord): MessageInitShape<typeof OrganizationSchema> {
  return {
    id: organization.id,
    displayName: organization.displayName,
    createTime: timestampFromNanos(organization.createdAtNanos),
    updateTime: timestampFromNanos(organization.updatedAtNanos),
    ...(organization.externalId !== undefined && { externalId: organization.externalId }),
    metadata: {},
  };
}

export function createOrganizationService(
  context: ServiceContext,
  portal: PortalLinks,
): Partial<ServiceImpl<typeof OrganizationService>> {
  const { state } = context;
  return {
    listOrganization(request) {
      const externalId = request.externalId || undefined;
      const ids =
        externalId === undefined
          ? state.organizationIds
          : state.organizationIds.filter((id) => state.organizations.get(id)?.externalId === externalId);
      const page = pageOf(ids, request, context.maxPageSize);
      return create(ListOrganizationsResponseSchema, {
        organizations: page.ids.map((id) => organizationMessage(state.organizations.get(id) as OrganizationRecord)),
        totalSize: page.totalSize,
        nextPageToken: page.nextPageToken,
        prevPageToken: page.prevPageToken,
      });
    },

    getOrganization(request) {
      const { identities } = request;
      let organization: OrganizationRecord | undefined;
      if (identities.case === 'id') organization = state.organizations.get(identities.value);
      else if (identities.case === 'externalId') {
        for (const candidate of state.organizations.values()) {
          if (candidate.externalId === identities.value) organization = candidate;
        }
      }
      if (!organization) throw notFound(`organization ${identities.value ?? ''}`);
      return create(GetOrganizationResponseSchema, { organization: organizationMessage(organization) });
    },

    // `features` (and the deprecated `sso` / `directorySync`) are ignored: the page offers both.
    generatePortalLink(request) {
      if (!state.organizations.has(request.id)) throw notFound(`organization ${request.id}`);
      const link = portal.issue(request.id);
      return create(GeneratePortalLinkResponseSchema, {
        link: {
          id: link.id,
          location: link.location,
          expireTime: timestampFromMillis(link.expiresAt),
        },
      });
    },
  };
}

export { OrganizationService };
