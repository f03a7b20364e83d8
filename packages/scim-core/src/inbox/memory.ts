/**
 * `memoryInbox()`: an `InboxStore` in this process's memory. Not durable (a restart loses what it
 * holds, which is the inbox's whole point), so it is for tests and for trying the inbox out; the
 * database stores (`postgresInbox`, `mysqlInbox`) are the ones to deploy.
 */
import {
  checkDeadLetterPage,
  checkInboxLimit,
  clipReason,
  type DeadLetter,
  type DeadLetterPage,
  type EnqueueResult,
  type InboxClaimRequest,
  type InboxEntry,
  type InboxItem,
  type InboxStats,
  type InboxStore,
  MAX_INBOX_CLAIM,
  replayIds,
} from './types.js';

interface Row {
  readonly id: string;
  readonly entry: InboxEntry;
  state: 'queued' | 'dead';
  availableAt: number;
  owner: string | undefined;
  attempts: number;
  reason: string | undefined;
  parkedAt: number;
}

const keyOf = (key: { environmentId: string; organizationId: string; eventId: string }) =>
  JSON.stringify([key.environmentId, key.organizationId, key.eventId]);

export function memoryInbox(): InboxStore {
  /** By id; a Map keeps insertion (arrival) order, which is id order. */
  const rows = new Map<string, Row>();
  const byKey = new Map<string, string>();
  let sequence = 0;

  const held = (id: string, owner: string): Row | undefined => {
    const row = rows.get(id);
    return row && row.state === 'queued' && row.owner === owner ? row : undefined;
  };

  return {
    async enqueue(entry: InboxEntry): Promise<EnqueueResult> {
      const key = keyOf(entry);
      const existing = byKey.get(key);
      if (existing !== undefined) return { status: 'duplicate', id: existing };
      sequence += 1;
      const id = String(sequence);
      const parked = entry.parkedReason !== undefined;
      rows.set(id, {
        id,
        entry: { ...entry },
        state: parked ? 'dead' : 'queued',
        availableAt: entry.receivedAt,
        owner: undefined,
        attempts: 0,
        reason: parked ? clipReason(entry.parkedReason as string) : undefined,
        parkedAt: entry.receivedAt,
      });
      byKey.set(key, id);
      return { status: parked ? 'parked' : 'queued', id };
    },
    async claim({ owner, now, leaseMs, limit }: InboxClaimRequest): Promise<InboxItem[]> {
      checkInboxLimit('claim', limit, MAX_INBOX_CLAIM);
      const claimed: InboxItem[] = [];
      for (const row of rows.values()) {
        if (claimed.length >= limit) break;
        if (row.state !== 'queued' || row.availableAt > now) continue;
        row.owner = owner;
        row.availableAt = now + leaseMs;
        row.attempts += 1;
        const { environmentId, organizationId, eventId, type, body, receivedAt } = row.entry;
        claimed.push({
          id: row.id,
          environmentId,
          organizationId,
          eventId,
          type,
          body,
          receivedAt,
          attempts: row.attempts,
          ...(row.reason !== undefined && { lastError: row.reason }),
        });
      }
      return claimed;
    },
    async complete(id, owner) {
      const row = held(id, owner);
      if (!row) return false;
      rows.delete(id);
      byKey.delete(keyOf(row.entry));
      return true;
    },
    async fail(id, owner, reason, retryAt) {
      const row = held(id, owner);
      if (!row) return false;
      row.owner = undefined;
      row.availableAt = retryAt;
      row.reason = clipReason(reason);
      return true;
    },
    async park(id, owner, reason, now) {
      const row = held(id, owner);
      if (!row) return false;
      row.owner = undefined;
      row.state = 'dead';
      row.reason = clipReason(reason);
      row.parkedAt = now;
      return true;
    },
    async listDeadLetters(request: DeadLetterPage): Promise<DeadLetter[]> {
      checkDeadLetterPage(request);
      const { organizationId, after, limit } = request;
      const page: DeadLetter[] = [];
      const from = after === undefined ? 0 : Number(after);
      for (const row of rows.values()) {
        if (page.length >= limit) break;
        if (row.state !== 'dead' || Number(row.id) <= from) continue;
        if (organizationId !== undefined && row.entry.organizationId !== organizationId) continue;
        const { environmentId, eventId, type, receivedAt } = row.entry;
        page.push({
          id: row.id,
          environmentId,
          organizationId: row.entry.organizationId,
          eventId,
          type,
          reason: row.reason ?? '',
          attempts: row.attempts,
          receivedAt,
          parkedAt: row.parkedAt,
        });
      }
      return page;
    },
    async replay(selection, now) {
      let count = 0;
      const requeue = (row: Row | undefined) => {
        if (row?.state !== 'dead') return;
        row.state = 'queued';
        row.availableAt = now;
        row.attempts = 0;
        row.owner = undefined;
        count += 1;
      };
      if ('ids' in selection) for (const id of replayIds(selection.ids)) requeue(rows.get(id));
      else
        for (const row of rows.values())
          if (selection.organizationId === undefined || row.entry.organizationId === selection.organizationId)
            requeue(row);
      return count;
    },
    async stats(organizationId?: string): Promise<InboxStats> {
      let depth = 0;
      let deadLetters = 0;
      let oldestQueuedAt: number | undefined;
      for (const row of rows.values()) {
        if (organizationId !== undefined && row.entry.organizationId !== organizationId) continue;
        if (row.state === 'dead') deadLetters += 1;
        else {
          depth += 1;
          if (oldestQueuedAt === undefined || row.entry.receivedAt < oldestQueuedAt)
            oldestQueuedAt = row.entry.receivedAt;
        }
      }
      return oldestQueuedAt === undefined ? { depth, deadLetters } : { depth, deadLetters, oldestQueuedAt };
    },
  };
}
