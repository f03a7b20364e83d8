/**
 * `DirectorySource`: where a reconciliation reads the directory's truth from. The Scalekit
 * Directory API is one (`scalekitDirectorySource`); anything that can list users and groups page
 * by page can be another.
 */
import type { Directory, DirectoryGroup, DirectoryUser } from '../model.js';

export interface DirectoryRef {
  readonly organizationId: string;
  readonly directoryId: string;
}

export interface ListRequest {
  /** The token of the page to read; absent for the first page. */
  readonly pageToken?: string;
  readonly pageSize: number;
  /** Only resources changed after this instant (an incremental run). */
  readonly updatedAfter?: Date;
}

export interface SourcePage<T> {
  readonly items: readonly T[];
  /** The next page's token; `undefined` on the last page. */
  readonly nextPageToken: string | undefined;
}

export interface SourceUser {
  /** Normalized as a webhook's user would be, so the same state has the same fingerprint. */
  readonly user: DirectoryUser;
  /** When the directory last changed the user, in nanoseconds since the epoch, if it says. */
  readonly updatedAt?: bigint;
  /**
   * `false` when the listing left out what only a detailed listing has (`active`, `externalId`,
   * roles, profile attributes): the reconciler then keeps those from the mirror.
   */
  readonly complete: boolean;
}

export interface SourceGroup {
  readonly group: DirectoryGroup;
  readonly updatedAt?: bigint;
}

export interface SourceOrganization {
  readonly id: string;
  readonly displayName?: string;
}

export interface DirectorySource {
  /** The directory to reconcile: `directoryId` when given, otherwise the organization's primary one. */
  resolveDirectory(organizationId: string, directoryId?: string): Promise<Directory>;
  /** A page of users; with `groupId`, only that group's members. */
  listUsers(
    directory: DirectoryRef,
    request: ListRequest & { readonly groupId?: string },
  ): Promise<SourcePage<SourceUser>>;
  listGroups(directory: DirectoryRef, request: ListRequest): Promise<SourcePage<SourceGroup>>;
  /** A page of organizations, for running reconciliation across all of them. */
  listOrganizations(request: Omit<ListRequest, 'updatedAfter'>): Promise<SourcePage<SourceOrganization>>;
}

export type DirectorySourceErrorCode =
  /** The credentials were refused (wrong client id or secret, or a revoked client). */
  | 'unauthorized'
  /** The organization or directory does not exist, or has no directory. */
  | 'not_found'
  /** Rate limited; retried with back-off by the reconciler. */
  | 'rate_limited'
  /** The service could not be reached or answered that it is unavailable. */
  | 'unavailable'
  /** The request was refused as invalid (a bad page token, say). */
  | 'invalid_request'
  /** Anything else the source answered. */
  | 'remote_error';

/** Every failure of a `DirectorySource`, whatever the client library threw. */
export class DirectorySourceError extends Error {
  override readonly name = 'DirectorySourceError';
  constructor(
    readonly code: DirectorySourceErrorCode,
    message: string,
    options?: { cause?: unknown; readonly retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }
  /** A hint from the source, for `rate_limited`. */
  readonly retryAfterMs: number | undefined;
}
