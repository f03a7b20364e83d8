/**
 * `scim-sync trigger <type>`: one signed Scalekit event POSTed to a webhook endpoint, about the user
 * or group it is told about, remembered in a state file so the next one names the same ids.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  decodeWebhookSecret,
  formatNanos,
  MAX_IDENTIFIER_LENGTH,
  parseRfc3339Nanos,
  parseScalekitEvent,
  type ScalekitDirectoryEventType,
} from '@org/scim-core';
import { signDelivery } from '@org/scim-testing';
import { parseOrExplain } from '../args.js';
import { UsageError } from '../errors.js';
import { nextOccurredAt } from '../event-clock.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { EVENT_TYPES, eventTypeOf, parseOverrides } from '../trigger-event.js';
import {
  DEFAULT_STATE_FILE,
  emptyState,
  loadState,
  newOrganization,
  type OrganizationState,
  recordEvent,
  recordTime,
  saveState,
} from '../trigger-state.js';
import { composeEvent, scalekitId, type UncheckedEvent } from '../trigger-subject.js';

/** Scalekit expects an answer within 10 s; so does this command. */
const TIMEOUT_MS = 10_000;

const validTypes = () =>
  Object.entries(EVENT_TYPES)
    .map(([short, full]) => `  ${short.padEnd(20)}${full}`)
    .join('\n');

const MISSING_SECRET =
  '--secret <whsec_…> is required (or set SCALEKIT_WEBHOOK_SECRET): the signing secret your webhook route ' +
  'verifies with. For an app on your machine, make one with `scim-sync secret` and start the app with it ' +
  '(SCALEKIT_WEBHOOK_SECRET=whsec_… npm start); for a deployed one, copy it from the Scalekit dashboard ' +
  '(Webhooks → your endpoint → Signing secret).';

const USER_EVENTS: ReadonlySet<ScalekitDirectoryEventType> = new Set([
  'organization.directory.user_created',
  'organization.directory.user_updated',
  'organization.directory.user_deleted',
]);
const GROUP_EVENTS: ReadonlySet<ScalekitDirectoryEventType> = new Set([
  'organization.directory.group_created',
  'organization.directory.group_updated',
  'organization.directory.group_deleted',
]);

/** An id from a flag or a variable: what Scalekit's schema takes (1 to 256 characters). */
function idFrom(source: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0 || value.length > MAX_IDENTIFIER_LENGTH) {
    throw new UsageError(`${source} must be an id of 1 to ${MAX_IDENTIFIER_LENGTH} characters.`, 'trigger');
  }
  return value;
}

/** The ids an event names, as printed. */
interface EventIds {
  organizationId: string;
  directoryId: string;
  userId?: string;
  email?: string;
  groups?: { id: string; name?: string }[];
  groupId?: string;
  groupName?: string;
}

const stringOr = (value: unknown, fallback?: string) => (typeof value === 'string' ? value : fallback);

function idsOf(event: UncheckedEvent, org: OrganizationState): EventIds {
  const { data } = event;
  const ids: EventIds = { organizationId: org.id, directoryId: org.directoryId };
  if (USER_EVENTS.has(event.type)) {
    const userId = stringOr(data.id);
    const email = stringOr(data.email);
    if (userId !== undefined) ids.userId = userId;
    if (email !== undefined) ids.email = email;
    if (event.type !== 'organization.directory.user_deleted' && Array.isArray(data.groups)) {
      ids.groups = data.groups.flatMap((group: unknown) => {
        const { id, name } = (typeof group === 'object' && group !== null ? group : {}) as Record<string, unknown>;
        if (typeof id !== 'string') return [];
        return [typeof name === 'string' ? { id, name } : { id }];
      });
    }
  } else if (GROUP_EVENTS.has(event.type)) {
    ids.directoryId = stringOr(data.directory_id, org.directoryId) as string;
    const groupId = stringOr(data.id);
    const groupName = stringOr(data.display_name);
    if (groupId !== undefined) ids.groupId = groupId;
    if (groupName !== undefined) ids.groupName = groupName;
  } else {
    ids.directoryId = stringOr(data.id, org.directoryId) as string;
  }
  return ids;
}

function printIds(io: CliIo, ids: EventIds): void {
  const line = (label: string, value: string) => println(io.stdout, `  ${label.padEnd(14)}${value}`);
  line('organization', ids.organizationId);
  line('directory', ids.directoryId);
  if (ids.userId !== undefined) line('user', `${ids.userId}${ids.email === undefined ? '' : ` (${ids.email})`}`);
  if (ids.groups !== undefined) {
    const groups = ids.groups.map((group) => `${group.id}${group.name === undefined ? '' : ` (${group.name})`}`);
    line('groups', groups.length === 0 ? '(none)' : groups.join(', '));
  }
  if (ids.groupId !== undefined) {
    line('group', `${ids.groupId}${ids.groupName === undefined ? '' : ` (${ids.groupName})`}`);
  }
}

/** The `--json` object: the ids, then the answer (`status` and `body` are `null` when nothing answered). */
function jsonResult(event: UncheckedEvent, ids: EventIds, status: number | null, body: unknown) {
  return {
    eventId: event.id,
    type: event.type,
    organizationId: ids.organizationId,
    directoryId: ids.directoryId,
    ...(ids.userId !== undefined && { userId: ids.userId }),
    ...(ids.groups !== undefined && { groupIds: ids.groups.map((group) => group.id) }),
    ...(ids.groupId !== undefined && { groupId: ids.groupId }),
    ...(ids.email !== undefined && { email: ids.email }),
    status,
    body,
  };
}

const jsonOrText = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

export async function triggerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('trigger', () =>
    parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        secret: { type: 'string' },
        organization: { type: 'string', short: 'o' },
        directory: { type: 'string' },
        user: { type: 'string' },
        group: { type: 'string' },
        groups: { type: 'string', multiple: true },
        data: { type: 'string', short: 'd', multiple: true, default: [] },
        state: { type: 'string' },
        'no-state': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    }),
  );
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError(`which event? One of:\n${validTypes()}`, 'trigger');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}.`, 'trigger');
  const type = eventTypeOf(name);
  if (type === undefined) throw new UsageError(`unknown event type "${name}". Valid types:\n${validTypes()}`);
  if (!values.url) throw new UsageError('--url <webhook url> is required.', 'trigger');
  if (!URL.canParse(values.url)) throw new UsageError(`--url must be an absolute URL, got "${values.url}".`, 'trigger');
  const url = values.url;
  const secret = values.secret || io.env.SCALEKIT_WEBHOOK_SECRET;
  if (!secret) throw new UsageError(MISSING_SECRET, 'trigger');
  try {
    decodeWebhookSecret(secret);
  } catch (error) {
    throw new UsageError(
      `--secret: ${(error as Error).message} Or make a local one with \`scim-sync secret\`.`,
      'trigger',
    );
  }
  const isUserEvent = USER_EVENTS.has(type);
  if (values.user !== undefined && !isUserEvent) {
    throw new UsageError(
      '--user names the user of a user event (user_created, user_updated, user_deleted).',
      'trigger',
    );
  }
  if (values.group !== undefined && !GROUP_EVENTS.has(type)) {
    throw new UsageError(
      '--group names the group of a group event (group_created, group_updated, group_deleted); a user’s groups are --groups.',
      'trigger',
    );
  }
  if (values.groups !== undefined && !(isUserEvent && type !== 'organization.directory.user_deleted')) {
    throw new UsageError('--groups sets the groups of a user in user_created or user_updated.', 'trigger');
  }
  if (values.state !== undefined && values['no-state']) {
    throw new UsageError('--state <file> and --no-state contradict each other: give one.', 'trigger');
  }
  const userId = idFrom('--user', values.user);
  const groupId = idFrom('--group', values.group);
  const overrides = parseOverrides(values.data, {
    userEvent: type === 'organization.directory.user_created' || type === 'organization.directory.user_updated',
  });

  const shown = values.state ?? DEFAULT_STATE_FILE;
  const statePath = values['no-state'] ? undefined : resolve(io.cwd, shown);
  const stored = statePath === undefined ? undefined : await loadState(statePath, shown);
  const state = stored ?? emptyState();
  const organizationId =
    idFrom('--organization', values.organization) ??
    idFrom('SCIM_SYNC_ORGANIZATION_ID', io.env.SCIM_SYNC_ORGANIZATION_ID || undefined) ??
    state.organizationId ??
    scalekitId('org');
  const directoryId =
    idFrom('--directory', values.directory) ??
    idFrom('SCIM_SYNC_DIRECTORY_ID', io.env.SCIM_SYNC_DIRECTORY_ID || undefined);
  const org =
    state.organizations.get(organizationId) ?? newOrganization(organizationId, directoryId ?? scalekitId('dir'));
  if (directoryId !== undefined) org.directoryId = directoryId;
  state.organizations.set(org.id, org);
  state.organizationId = org.id;

  const newest = org.occurredAt === undefined ? undefined : parseRfc3339Nanos(org.occurredAt);
  const occurredAt = formatNanos(nextOccurredAt(newest));
  const { event, notes } = composeEvent(
    { type, org, userId, groupId, groups: values.groups, overrides, stateless: statePath === undefined },
    occurredAt,
  );
  for (const note of notes) println(io.stderr, note);
  const ids = idsOf(event, org);
  const parsed = parseScalekitEvent(event);
  if (parsed.success && parsed.value.kind === 'directory') {
    recordEvent(org, parsed.value.event);
  } else {
    recordTime(org, occurredAt);
    const issues = parsed.success ? [] : parsed.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    println(
      io.stderr,
      `Warning: with these --data overrides the event no longer matches Scalekit's schema (${issues.join('; ')}); ` +
        'sending it anyway (the state file does not remember it).',
    );
  }
  // Saved before sending: an endpoint may apply an event whose answer never arrives, and the next
  // event must still be newer.
  if (statePath !== undefined) {
    await saveState(statePath, shown, state);
    if (stored === undefined) {
      println(io.stderr, `Note: the ids are remembered in ${shown} for the next trigger (--no-state keeps none).`);
    }
  }

  const delivery = signDelivery(event, { secret });
  if (!values.json) {
    println(io.stdout, `${event.id} ${event.type} → POST ${url}`);
    printIds(io, ids);
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: delivery.headers,
      body: delivery.body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    println(
      io.stderr,
      `scim-sync: no answer from ${url} (${error instanceof Error ? error.message : String(error)}${cause}).`,
    );
    if (values.json) println(io.stdout, JSON.stringify(jsonResult(event, ids, null, null), null, 2));
    return ExitCode.failed;
  }
  const body = await response.text();
  if (values.json) {
    println(io.stdout, JSON.stringify(jsonResult(event, ids, response.status, jsonOrText(body)), null, 2));
  } else {
    println(io.stdout, `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    if (body !== '') println(io.stdout, body);
  }
  return response.ok ? ExitCode.ok : ExitCode.failed;
}
