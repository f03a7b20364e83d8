/**
 * The event generator both benchmarks share: an endless stream of unique, signed
 * `organization.directory.user_updated` deliveries, cheap enough to run inside the load
 * generator's `setupRequest` (a template, one HMAC, no JSON.stringify, no bigint).
 *
 * Every event has a fresh `evt_…` id, a strictly increasing nanosecond `occurred_at`, and a user
 * drawn from a fixed pool (so after the pool is seen once, events are updates of known users).
 * Titles and group memberships vary from event to event, so most updates change something and
 * call handlers. `checkEventStream` proves the output is what scim-core accepts.
 */
import { createHmac } from 'node:crypto';
import {
  createWebhookVerifier,
  decodeWebhookSecret,
  parseRfc3339Nanos,
  parseScalekitEvent,
  signWebhook,
} from '@org/scim-core';
import { seededRandom } from '@org/scim-testing';

export interface SignedEvent {
  /** The event's `id` (`evt_…`). */
  id: string;
  /** The exact body bytes to send, which are the bytes signed (ASCII JSON). */
  bytes: Buffer;
  /** `content-type` and the three Standard Webhooks headers. */
  headers: Record<string, string>;
}

export interface EventStreamOptions {
  /** `whsec_…`: the secret the receiving server has. */
  secret: string;
  /** How many distinct users the events are spread over. Default 10,000. */
  userPool?: number;
  organizationId?: string;
  environmentId?: string;
  /** Nanoseconds between consecutive `occurred_at`s. Default 1,237 (sub-microsecond digits vary). */
  stepNanos?: number;
  /** Seed of the user/title/group choices, for reproducible streams. Default 1. */
  seed?: number;
}

export interface EventStream {
  next(): SignedEvent;
  /** How many events this stream has produced. */
  readonly count: number;
  readonly organizationId: string;
  readonly userPool: number;
}

const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Tim', 'Margaret'];
const FAMILY = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Lee'];
const DEPARTMENTS = ['Engineering', 'Sales', 'Finance', 'Support', 'Marketing', 'Legal', 'Operations'];
const TITLES = [
  'Software Engineer',
  'Senior Software Engineer',
  'Staff Engineer',
  'Engineering Manager',
  'Account Executive',
  'Support Specialist',
];
const ROLES = ['member', 'billing_admin', 'admin', 'viewer'];
/** Membership snapshots an event may carry; consecutive events for a user usually differ. */
const GROUP_SETS = [
  '[{"id":"dirgroup_53905021883261001","name":"Engineering"}]',
  '[{"id":"dirgroup_53905021883261001","name":"Engineering"},{"id":"dirgroup_53905021883261002","name":"On-call"}]',
  '[{"id":"dirgroup_53905021883261003","name":"Everyone"}]',
  '[{"id":"dirgroup_53905021883261003","name":"Everyone"},{"id":"dirgroup_53905021883261004","name":"Managers"}]',
];

const pick = <T>(list: readonly T[], index: number): T => list[index % list.length] as T;

/** The parts of a user's payload that do not change between its events, as JSON fragments (bytes). */
interface UserParts {
  id: string;
  head: Buffer;
  tail: Buffer;
}

function userParts(index: number, organizationId: string): UserParts {
  const id = `diruser_53900000${String(index).padStart(9, '0')}`;
  const given = pick(GIVEN, index);
  const family = pick(FAMILY, Math.floor(index / GIVEN.length));
  const login = `${given}.${family}${index}`.toLowerCase();
  const email = `${login}@example.com`;
  const employee = String(index).padStart(6, '0');
  const department = pick(DEPARTMENTS, index * 7);
  const head =
    `{"id":"${id}","organization_id":"${organizationId}","dp_id":"00u${employee}abcdEFGH5d7",` +
    `"preferred_username":"${email}","email":"${email}","active":true,"name":"${given} ${family}",` +
    `"given_name":"${given}","family_name":"${family}","phone_number":"+1 415 555 ${employee.slice(2)}",` +
    `"employee_id":"E${employee}","department":"${department}","cost_center":"CC-${1000 + (index % 97)}",` +
    `"locale":"en-US","zoneinfo":"America/Los_Angeles",` +
    `"address":{"formatted":"${100 + (index % 800)} Market St, San Francisco, CA 94105, US",` +
    `"street_address":"${100 + (index % 800)} Market St","locality":"San Francisco","region":"CA",` +
    `"postal_code":"94105","country":"US"},"roles":[{"role_name":"${pick(ROLES, index)}"}],"title":"`;
  const tail =
    `"custom_attributes":{"attribute1":"value1"},` +
    `"raw_attributes":{"userName":"${email}","externalId":"00u${employee}abcdEFGH5d7"}}}`;
  return { id, head: Buffer.from(head, 'latin1'), tail: Buffer.from(tail, 'latin1') };
}

/** `title` and `groups`, every combination, pre-encoded: the part of `data` that varies per event. */
const VARIANTS = TITLES.flatMap((title) =>
  GROUP_SETS.map((groups) => Buffer.from(`${title}","groups":${groups},`, 'latin1')),
);

/** Creates a stream. Ids are unique within the process and, with overwhelming odds, across runs. */
export function createEventStream(options: EventStreamOptions): EventStream {
  const key = decodeWebhookSecret(options.secret);
  const organizationId = options.organizationId ?? 'org_53879494091473415';
  const environmentId = options.environmentId ?? 'env_53814739859406915';
  const userPool = options.userPool ?? 10_000;
  const step = options.stepNanos ?? 1_237;
  const random = seededRandom(options.seed ?? 1);
  // 8 random digits then a 9-digit sequence: `evt_` + 17 digits, Scalekit's shape.
  const runTag = String(10_000_000 + Math.floor(Math.random() * 89_999_999));
  const users: (UserParts | undefined)[] = new Array(userPool);
  const envelopeHead = `","type":"organization.directory.user_updated","occurred_at":"`;
  const envelopeMid = `","environment_id":"${environmentId}","organization_id":"${organizationId}","object":"DirectoryUser","data":`;

  // occurred_at = baseSeconds + offset (nanoseconds, a plain number: exact below 2^53 ns ≈ 104 days).
  const startMs = Date.now();
  const baseSeconds = Math.floor(startMs / 1000);
  let offsetNanos = (startMs % 1000) * 1_000_000;
  let cachedSecond = -1;
  let cachedPrefix = '';
  let count = 0;

  function occurredAt(): string {
    offsetNanos += step;
    const second = baseSeconds + Math.floor(offsetNanos / 1e9);
    if (second !== cachedSecond) {
      cachedSecond = second;
      cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    }
    return `${cachedPrefix}.${String(offsetNanos % 1e9).padStart(9, '0')}Z`;
  }

  function next(): SignedEvent {
    count += 1;
    const id = `evt_${runTag}${String(count).padStart(9, '0')}`;
    const index = Math.floor(random() * userPool);
    let user = users[index];
    if (!user) {
      user = userParts(index, organizationId);
      users[index] = user;
    }
    const variant = VARIANTS[Math.floor(random() * VARIANTS.length)] as Buffer;
    const envelope = Buffer.from(
      `{"spec_version":"1","id":"${id}${envelopeHead}${occurredAt()}${envelopeMid}`,
      'latin1',
    );
    // Built from pre-encoded buffers: hashing and sending need bytes, and flattening a long
    // concatenated string costs more than the HMAC itself.
    const bytes = Buffer.concat(
      [envelope, user.head, variant, user.tail],
      envelope.length + user.head.length + variant.length + user.tail.length,
    );
    const messageId = `msg_${id}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', key).update(`${messageId}.${timestamp}.`).update(bytes).digest('base64');
    return {
      id,
      bytes,
      headers: {
        'content-type': 'application/json',
        'webhook-id': messageId,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
      },
    };
  }

  return {
    next,
    get count() {
      return count;
    },
    organizationId,
    userPool,
  };
}

/**
 * Proves a stream's output is what scim-core accepts: the signature matches scim-core's own
 * signer and verifier, the body is JSON that passes the schema, ids are unique and `occurred_at`
 * strictly increases. Throws on the first problem. Consumes `sample` events of its own stream.
 */
export function checkEventStream(secret: string, sample = 2_000): { bodyBytes: number } {
  const stream = createEventStream({ secret, seed: 7 });
  const verify = createWebhookVerifier({ secret });
  const ids = new Set<string>();
  let previous: bigint | undefined;
  let bodyBytes = 0;
  for (let i = 0; i < sample; i++) {
    const event = stream.next();
    const body = event.bytes.toString('utf8');
    if (body.length !== event.bytes.length) throw new Error('a generated body is not plain ASCII');
    const reference = signWebhook({
      secret,
      id: event.headers['webhook-id'] as string,
      timestamp: Number(event.headers['webhook-timestamp']),
      payload: body,
    });
    if (reference['webhook-signature'] !== event.headers['webhook-signature'])
      throw new Error('the bench signer disagrees with scim-core signWebhook');
    verify(event.headers, body);
    verify(event.headers, event.bytes);
    const parsed = parseScalekitEvent(JSON.parse(body));
    if (!parsed.success) throw new Error(`a generated event fails the schema: ${JSON.stringify(parsed.issues)}`);
    if (parsed.value.kind !== 'directory' || parsed.value.event.type !== 'organization.directory.user_updated')
      throw new Error('a generated event is not a user_updated directory event');
    if (ids.has(event.id)) throw new Error(`duplicate event id ${event.id}`);
    ids.add(event.id);
    const at = parseRfc3339Nanos(parsed.value.event.occurred_at);
    if (at === undefined || (previous !== undefined && at <= previous))
      throw new Error(`occurred_at does not strictly increase at ${parsed.value.event.occurred_at}`);
    previous = at;
    bodyBytes += event.bytes.length;
  }
  return { bodyBytes: Math.round(bodyBytes / sample) };
}
