/**
 * A local fake of Scalekit's API that the real `@scalekit-sdk/node` client talks to: gRPC
 * (DirectoryService, OrganizationService, EventsService), `POST /oauth/token` and the admin
 * portal's pages on one 127.0.0.1 port, an in-memory directory that tests seed and mutate,
 * injectable faults, the webhook events each mutation would send, and the log of every event
 * that `ListEventsPaginated` lists.
 */
import { randomBytes } from 'node:crypto';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { parseRfc3339Nanos, type ScalekitDirectoryEvent } from '@org/scim-core';
import { generateWebhookSecret } from '../signer.js';
import { authInterceptor, oauthTokenRoute, TokenStore } from './auth.js';
import { createDirectoryService, DirectoryService, type ServiceContext } from './directory-service.js';
import { EventLog, type FakeEventLog } from './event-log.js';
import { createEventsService, EventsService } from './events-service.js';
import { type FakeFaults, FaultRegistry, faultInterceptor } from './faults.js';
import { createHttpHandler, type HttpRoutes } from './http-routes.js';
import { createOrganizationService, OrganizationService } from './organization-service.js';
import { MAX_PAGE_SIZE } from './paging.js';
import { type FakePortalLink, PortalLinks } from './portal.js';
import { createNanoClock } from './records.js';
import { seedDirectory } from './seed.js';
import { listenDualProtocol } from './server.js';
import { DirectoryState, scalekitId } from './state.js';
import { copyStats, emptyStats, type FakeScalekitStats, statsInterceptor } from './stats.js';
import type {
  FakeDirectoryInput,
  FakeGroup,
  FakeGroupInput,
  FakeOrganizationInput,
  FakeUser,
  FakeUserInput,
  SeedOptions,
  SeedResult,
} from './types.js';
import { type FakeWebhooks, WebhookQueue } from './webhooks.js';

export { FakeScalekitError, type FakeScalekitErrorCode } from './errors.js';
export { DEFAULT_EVENT_LOG_CAPACITY, type FakeEventLog } from './event-log.js';
export type { EmptyListingOptions, FailAfterPagesOptions, FakeFaults, FaultOptions } from './faults.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './paging.js';
export type { FakePortalLink } from './portal.js';
export type * from './portal-messages.js';
export { FAKE_PORTAL_EVENT_TYPES } from './portal-messages.js';
export type { FakeScalekitStats } from './stats.js';
export type * from './types.js';
export type { DeliverOptions, DeliveryReport, FakeWebhooks, OutageWindow } from './webhooks.js';

export interface FakeScalekitOptions {
  /** Default 0: an ephemeral port. The host is always 127.0.0.1. */
  port?: number;
  /** Default a fresh `skc_…`. */
  clientId?: string;
  /** Default a fresh random secret. */
  clientSecret?: string;
  /** Lifetime of issued tokens against `now()`. Default 3600. */
  tokenTtlSeconds?: number;
  /** The secret deliveries are signed with. Default a fresh `whsec_…`. */
  webhookSecret?: string;
  /** `environment_id` of every event. Default a fresh `env_…`. */
  environmentId?: string;
  /** Millisecond clock for `updatedAt`, `occurred_at` and token expiry. Default `Date.now`. */
  now?: () => number;
  /** Largest page a listing (events included) answers; larger `pageSize`s are clamped. Default 100 (see `MAX_PAGE_SIZE`). */
  maxPageSize?: number;
  /**
   * How many events the event log keeps for `ListEventsPaginated`; older ones are forgotten, as
   * past a retention period. Default 100,000 (`DEFAULT_EVENT_LOG_CAPACITY`).
   */
  eventLogCapacity?: number;
  /** How long a portal link can be opened after `GeneratePortalLink`, against `now()`. Default 60 (Scalekit's minute). */
  portalLinkTtlSeconds?: number;
  /** How long a portal session lasts once its link is opened. Default 21600 (6 hours). */
  portalSessionTtlSeconds?: number;
  /**
   * Origins allowed to embed the portal, as registered in Scalekit's dashboard. Given: pages carry
   * `Content-Security-Policy: frame-ancestors <origins>` and post to those origins only. Omitted:
   * any embedder, target origin `'*'`.
   */
  portalAllowedOrigins?: string[];
}

export interface FakeScalekit {
  /** `http://127.0.0.1:<port>`: pass it to `new ScalekitClient(fake.url, fake.clientId, fake.clientSecret)`. */
  readonly url: string;
  readonly port: number;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly webhookSecret: string;
  readonly environmentId: string;

  /** Adds an organization (no event: setup). */
  addOrganization(input?: FakeOrganizationInput): { id: string };
  /** Adds a directory (no event: setup). The organization's first directory is its primary one. */
  addDirectory(organizationId: string, input?: FakeDirectoryInput): { id: string };
  /** Creates (`user_created`) or merges into (`user_updated`) a user of the primary or given directory. */
  upsertUser(organizationId: string, input: FakeUserInput, options?: { directoryId?: string }): FakeUser;
  /** Deletes a user (`user_deleted`). */
  removeUser(organizationId: string, userId: string): void;
  /** Creates (`group_created`) or renames (`group_updated`) a group. */
  upsertGroup(organizationId: string, input: FakeGroupInput, options?: { directoryId?: string }): FakeGroup;
  /** Deletes a group (`group_deleted`), then takes it off each member (`user_updated` each). */
  removeGroup(organizationId: string, groupId: string): void;
  /** Replaces a user's memberships (`user_updated`: Scalekit has no membership events). */
  setUserGroups(organizationId: string, userId: string, groupIds: string[]): void;
  /** Bulk pre-existing state: deterministic ids, realistic profiles, stamps, no events. */
  seed(organizationId: string, options: SeedOptions): SeedResult;
  /** Every user of the organization, sorted by id. */
  listUsers(organizationId: string): FakeUser[];
  /** Every group of the organization, sorted by id. */
  listGroups(organizationId: string): FakeGroup[];

  readonly faults: FakeFaults;
  /** Every token issued so far stops working: the next call gets `Unauthenticated` and the SDK fetches a new one. */
  expireTokens(): void;
  stats(): FakeScalekitStats;
  resetStats(): void;

  readonly webhooks: FakeWebhooks;
  /**
   * Every event emitted, oldest first, whatever became of its webhook: what `ListEventsPaginated`
   * serves, newest first. Bounded by `eventLogCapacity`.
   */
  readonly events: FakeEventLog;

  /** Every admin portal link issued so far, oldest first, with when it was opened. */
  portalLinks(): FakePortalLink[];
  /** Stops the server and destroys open connections, so the process can exit. */
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1. */
export async function startFakeScalekit(options: FakeScalekitOptions = {}): Promise<FakeScalekit> {
  const now = options.now ?? Date.now;
  const clientId = options.clientId ?? scalekitId('skc');
  const clientSecret = options.clientSecret ?? `test_${randomBytes(32).toString('base64url')}`;
  const webhookSecret = options.webhookSecret ?? generateWebhookSecret();
  const environmentId = options.environmentId ?? scalekitId('env');

  const webhooks = new WebhookQueue(webhookSecret, now);
  const events = new EventLog(options.eventLogCapacity);
  const state = new DirectoryState({
    stamp: createNanoClock(now),
    environmentId,
    emit: (event: ScalekitDirectoryEvent) => {
      // The fake wrote occurred_at itself from a nanosecond stamp: it always parses.
      const occurredAtNanos = parseRfc3339Nanos(event.occurred_at) as bigint;
      events.append(event, occurredAtNanos);
      webhooks.push(event, occurredAtNanos);
    },
  });
  const tokens = new TokenStore(options.tokenTtlSeconds ?? 3600, now);
  const faults = new FaultRegistry();
  const stats = emptyStats();
  let url = '';
  const portal = new PortalLinks({
    state,
    stats,
    now,
    baseUrl: () => url,
    linkTtlSeconds: options.portalLinkTtlSeconds ?? 60,
    sessionTtlSeconds: options.portalSessionTtlSeconds ?? 6 * 60 * 60,
    allowedOrigins: options.portalAllowedOrigins,
  });

  const context: ServiceContext = {
    state,
    baseUrl: () => url,
    maxPageSize: options.maxPageSize ?? MAX_PAGE_SIZE,
  };
  const grpcHandler = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    // No gzip: on a loopback socket compressing pages only burns the CPU a benchmark is measuring.
    acceptCompression: [],
    // Outermost first: count every call, then authenticate, then let armed faults answer.
    interceptors: [statsInterceptor(stats), authInterceptor(tokens, stats), faultInterceptor(faults, stats)],
    routes: (router) => {
      router.service(DirectoryService, createDirectoryService(context));
      router.service(OrganizationService, createOrganizationService(context, portal));
      router.service(EventsService, createEventsService({ log: events, maxPageSize: context.maxPageSize }));
    },
  });
  const httpRoutes: HttpRoutes = new Map([
    ['POST /oauth/token', oauthTokenRoute({ clientId, clientSecret, tokens, stats })],
    ...portal.routes(),
  ]);
  const server = await listenDualProtocol({
    port: options.port ?? 0,
    host: '127.0.0.1',
    http2Handler: grpcHandler,
    http1Handler: createHttpHandler(httpRoutes),
  });
  url = `http://127.0.0.1:${server.port}`;

  return {
    url,
    port: server.port,
    clientId,
    clientSecret,
    webhookSecret,
    environmentId,
    addOrganization: (input) => state.addOrganization(input),
    addDirectory: (organizationId, input) => state.addDirectory(organizationId, input),
    upsertUser: (organizationId, input, opts) => state.upsertUser(organizationId, input, opts),
    removeUser: (organizationId, userId) => state.removeUser(organizationId, userId),
    upsertGroup: (organizationId, input, opts) => state.upsertGroup(organizationId, input, opts),
    removeGroup: (organizationId, groupId) => state.removeGroup(organizationId, groupId),
    setUserGroups: (organizationId, userId, groupIds) => state.setUserGroups(organizationId, userId, groupIds),
    seed: (organizationId, seedOptions) => seedDirectory(state, organizationId, seedOptions),
    listUsers: (organizationId) => state.listUsers(organizationId),
    listGroups: (organizationId) => state.listGroups(organizationId),
    faults,
    expireTokens: () => tokens.expireAll(),
    stats: () => copyStats(stats),
    resetStats: () => {
      // In place: the interceptors hold this object.
      Object.assign(stats, emptyStats());
    },
    webhooks,
    events,
    portalLinks: () => portal.list(),
    close: () => server.close(),
  };
}
