/**
 * Faults planted in `memoryStore()` (packages/scim-core/src/store/memory.ts) that the store
 * conformance suite must catch: the bugs a store of your own is likely to have, among them the
 * seven a MariaDB store's deliberately broken variants once slipped past it with.
 *
 * Each mutant is a list of `[from, to]` text replacements; `from` must occur in the source exactly
 * once when applied, so a mutant whose code moved fails the check instead of testing nothing.
 * `MUTANT_HELPERS` is appended to every mutant: collating maps and a pause, the building blocks
 * of the faults.
 */

/** @typedef {{ name: string, fault: string, replace: [from: string, to: string][] }} Mutant */

export const MUTANT_HELPERS = `
/** A map whose keys compare as in a PAD SPACE collation: trailing spaces do not count. */
class PadSpaceMap<V> extends Map<string, V> {
  override get(key: string) { return super.get(key.trimEnd()); }
  override set(key: string, value: V) { return super.set(key.trimEnd(), value); }
  override has(key: string) { return super.has(key.trimEnd()); }
  override delete(key: string) { return super.delete(key.trimEnd()); }
}

/** A map whose keys compare as in a case-insensitive collation. */
class CaseInsensitiveMap<V> extends Map<string, V> {
  override get(key: string) { return super.get(key.toLowerCase()); }
  override set(key: string, value: V) { return super.set(key.toLowerCase(), value); }
  override has(key: string) { return super.has(key.toLowerCase()); }
  override delete(key: string) { return super.delete(key.toLowerCase()); }
}

/** Another round trip between a read and the write that depends on it, as a store without row locks has. */
const roundTrip = () => new Promise<void>((resolve) => setImmediate(resolve));
`;

/** @type {Mutant[]} */
export const MUTANTS = [
  {
    name: 'ids-in-utf16-order',
    fault:
      "ids listed in UTF-16 code-unit order (JavaScript's default sort), not code point order as binary collations over UTF-8 list them",
    replace: [
      [
        '    this.#sorted ??= [...this.rows.keys()].sort(compareIds);',
        '    this.#sorted ??= [...this.rows.keys()].sort();',
      ],
      [
        '    if (compareIds(ids[mid] as string, after) <= 0) start = mid + 1;',
        '    if ((ids[mid] as string) <= after) start = mid + 1;',
      ],
      ['      sorted = [...set].sort(compareIds);', '      sorted = [...set].sort();'],
    ],
  },
  {
    name: 'version-tie-utf16-order',
    fault: 'a same-nanosecond tie broken by event ids in UTF-16 code-unit order (U+10000 before U+FFFF)',
    replace: [
      [
        '    if (!isNewerVersion(next, previous)) return false;',
        '    if (previous && !(next.at > previous.at || (next.at === previous.at && next.eventId > previous.eventId))) return false;',
      ],
    ],
  },
  {
    name: 'versions-compared-as-numbers',
    fault: 'versions compared as JavaScript numbers (a version 1 ns newer with a smaller event id is refused)',
    replace: [
      [
        '    if (!isNewerVersion(next, previous)) return false;',
        '    if (previous && !(Number(next.at) > Number(previous.at) || (Number(next.at) === Number(previous.at) && next.eventId > previous.eventId))) return false;',
      ],
    ],
  },
  {
    name: 'version-tie-case-insensitive',
    fault: 'a same-nanosecond tie broken by event ids compared case-insensitively',
    replace: [
      [
        '    if (!isNewerVersion(next, previous)) return false;',
        '    if (!isNewerVersion({ ...next, eventId: next.eventId.toLowerCase() }, previous && { ...previous, eventId: previous.eventId.toLowerCase() })) return false;',
      ],
    ],
  },
  {
    name: 'version-tie-pad-space',
    fault: "a same-nanosecond tie broken by event ids in a PAD SPACE collation ('evt_a ' equals 'evt_a')",
    replace: [
      [
        '    if (!isNewerVersion(next, previous)) return false;',
        '    if (!isNewerVersion({ ...next, eventId: next.eventId.trimEnd() }, previous && { ...previous, eventId: previous.eventId.trimEnd() })) return false;',
      ],
    ],
  },
  {
    name: 'mirror-ids-pad-space',
    fault: "user and group ids in a PAD SPACE collation ('a' and 'a ' the same id)",
    replace: [['  readonly rows = new Map<string, T>();', '  readonly rows = new PadSpaceMap<T>();']],
  },
  {
    name: 'mirror-ids-case-insensitive',
    fault: "user and group ids in a case-insensitive collation ('a' and 'A' the same id)",
    replace: [['  readonly rows = new Map<string, T>();', '  readonly rows = new CaseInsensitiveMap<T>();']],
  },
  {
    name: 'organization-ids-pad-space',
    fault: 'organization ids of the mirror in a PAD SPACE collation',
    replace: [
      [
        '  readonly users = new Map<string, Table<DirectoryUser>>();',
        '  readonly users = new PadSpaceMap<Table<DirectoryUser>>();',
      ],
      [
        '  readonly groups = new Map<string, Table<DirectoryGroup>>();',
        '  readonly groups = new PadSpaceMap<Table<DirectoryGroup>>();',
      ],
    ],
  },
  {
    name: 'version-ids-pad-space',
    fault: 'the ids of versions in a PAD SPACE collation',
    replace: [['      byId = new Map();', '      byId = new PadSpaceMap();']],
  },
  {
    name: 'membership-group-ids-case-insensitive',
    fault: 'memberships keyed by a case-folded group id',
    replace: [
      [
        '    return this.#withMembers(organizationId)?.members.get(groupId);',
        '    return this.#withMembers(organizationId)?.members.get(groupId.toLowerCase());',
      ],
      [
        '      const set = indexes?.members.get(groupId);',
        '      const set = indexes?.members.get(groupId.toLowerCase());',
      ],
      ['      const set = members.get(group.id);', '      const set = members.get(group.id.toLowerCase());'],
      ['    let set = members.get(group.id);', '    let set = members.get(group.id.toLowerCase());'],
      ['      members.set(group.id, set);', '      members.set(group.id.toLowerCase(), set);'],
    ],
  },
  {
    name: 'user-lookups-pad-space',
    fault: "findUser's externalId and email compared in a PAD SPACE collation",
    replace: [
      [
        "  return field === 'externalId' ? value : field === 'userName' ? userNameKey(value) : lower(value);",
        "  return field === 'externalId' ? value.trimEnd() : field === 'userName' ? userNameKey(value) : lower(value).trimEnd();",
      ],
    ],
  },
  {
    name: 'group-lookups-pad-space',
    fault: "findGroup's externalId and displayName compared in a PAD SPACE collation",
    replace: [
      [
        `      ? \`\${organizationId}\\u0000externalId\\u0000\${lookup.externalId}\``,
        `      ? \`\${organizationId}\\u0000externalId\\u0000\${lookup.externalId.trimEnd()}\``,
      ],
      [
        `      : \`\${organizationId}\\u0000displayName\\u0000\${lower(lookup.displayName)}\`;`,
        `      : \`\${organizationId}\\u0000displayName\\u0000\${lower(lookup.displayName).trimEnd()}\`;`,
      ],
    ],
  },
  {
    name: 'event-ids-case-insensitive',
    fault: 'ledger keys with event ids compared case-insensitively (a second event taken for a duplicate)',
    // The ledger is nested (environment → organization → event id): every read and write of an event's entry.
    replace: [
      [
        '    const { eventId } = event;\n    const entry = entries.get(eventId);',
        '    const eventId = event.eventId.toLowerCase();\n    const entry = entries.get(eventId);',
      ],
      [
        '    const { eventId } = event;\n    const before = entries.get(eventId);',
        '    const eventId = event.eventId.toLowerCase();\n    const before = entries.get(eventId);',
      ],
      [
        '    const entry = entries.get(request.eventId);',
        '    const entry = entries.get(request.eventId.toLowerCase());',
      ],
      ['entries.set(request.eventId, claimed);', 'entries.set(request.eventId.toLowerCase(), claimed);'],
      ["?.get(event.eventId)?.state === 'claimed'", "?.get(event.eventId.toLowerCase())?.state === 'claimed'"],
    ],
  },
  {
    name: 'event-organizations-pad-space',
    fault: 'ledger keys with organization ids in a PAD SPACE collation',
    replace: [
      [
        '    let entries = byOrganization.get(event.organizationId);',
        '    let entries = byOrganization.get(event.organizationId.trimEnd());',
      ],
      [
        '      byOrganization.set(event.organizationId, entries);',
        '      byOrganization.set(event.organizationId.trimEnd(), entries);',
      ],
    ],
  },
  {
    name: 'expired-claim-taken-without-row-lock',
    fault: 'an expired event claim taken over in a second round trip after reading it (several callers granted it)',
    replace: [
      [
        // The store's public claimEvent (claimEventNow answers at once, with no round trip to race in).
        '    return this.claimEventNow(request);',
        "    const entry = this.state.ledger.get(ledgerKey(request));\n    if (entry?.state === 'claimed' && entry.expiresAt <= request.now) {\n      await roundTrip();\n      this.record(this.state.setLedger(ledgerKey(request), { state: 'claimed', expiresAt: request.now + request.leaseMs }));\n      return { status: 'claimed' };\n    }\n    return this.claimEventNow(request);",
      ],
    ],
  },
  {
    name: 'expired-run-lock-taken-without-row-lock',
    fault:
      'an expired reconcile run lock taken over in a second round trip after reading it (several callers granted it)',
    replace: [
      [
        '    const next: RunLock = { ...lock, owner, expiresAt: now + leaseMs };',
        '    if (lock) await roundTrip();\n    const next: RunLock = { ...this.state.runLocks.get(organizationId), owner, expiresAt: now + leaseMs };',
      ],
    ],
  },
  {
    name: 'run-locks-case-insensitive',
    fault: 'run locks keyed by case-folded organization ids (one organization blocks another)',
    replace: [
      ['  readonly runLocks = new Map<string, RunLock>();', '  readonly runLocks = new CaseInsensitiveMap<RunLock>();'],
    ],
  },
  {
    name: 'empty-lock-set-without-transaction',
    fault: 'transaction([], fn) run without a transaction (its writes survive a throw)',
    replace: [
      [
        '    return this.transactionNow(resources, fn, options);',
        '    if (resources.length === 0 && !options?.shared?.length) return fn(this);\n    return this.transactionNow(resources, fn, options);',
      ],
    ],
  },
  {
    name: 'completion-not-undone',
    fault: "an event's completion kept when its transaction throws",
    replace: [
      [
        "    if (event.environmentId === '') return () => restore(entries, eventId, entry);",
        "    if (event.environmentId === '') return () => {};",
      ],
      ['      restore(entries, eventId, entry);\n    };', '    };'],
    ],
  },
  {
    name: 'health-note-not-undone',
    fault: "readHealth reports an event's completion that its transaction rolled back",
    replace: [
      ['      restore(this.lastReceived, org, received);\n      restore(this.lastApplied, org, applied);\n', ''],
    ],
  },
  {
    name: 'failures-never-pruned',
    fault: 'failures older than 24 hours kept (a poison event retried for days grows the table)',
    replace: [
      [
        '    while (drop < list.length && (list[drop] as FailureRecord).at < newest - FAILURE_RETENTION_MS) drop++;',
        '',
      ],
    ],
  },
  {
    name: 'checkpoint-kept-on-complete',
    fault: 'a completed run keeps its checkpoint (the next run resumes a finished listing)',
    replace: [
      ['    lock.checkpoint = undefined;', "    if (finish.status === 'discarded') lock.checkpoint = undefined;"],
    ],
  },
  {
    name: 'marks-kept-on-discard',
    fault: 'a discarded run keeps its marks (unbounded growth)',
    replace: [
      [
        "    for (const kind of ['user', 'group'] as const) this.state.marks.delete(markKey(organizationId, finish.runId, kind));",
        "    if (finish.status === 'completed') for (const kind of ['user', 'group'] as const) this.state.marks.delete(markKey(organizationId, finish.runId, kind));",
      ],
    ],
  },
  {
    name: 'marks-dropped-on-interrupt',
    fault: 'an interrupted run loses its marks (the run resuming it sweeps what it already saw)',
    replace: [
      [
        "    if (finish.status === 'interrupted') return;\n    lock.checkpoint = undefined;",
        "    if (finish.status !== 'interrupted') lock.checkpoint = undefined;",
      ],
    ],
  },
  {
    name: 'marks-dropped-by-lost-owner',
    fault: 'a finish by an owner that lost the lock drops the marks of the run its successor resumed',
    replace: [
      [
        '    if (!lock || lock.owner !== owner) return;',
        "    if (!lock) return;\n    if (lock.owner !== owner) {\n      if (finish.status !== 'interrupted') for (const kind of ['user', 'group'] as const) this.state.marks.delete(markKey(organizationId, finish.runId, kind));\n      return;\n    }",
      ],
    ],
  },
  {
    name: 'list-unseen-ignores-kind',
    fault: 'listUnseen ignores kind (a group marked seen hides the user with its id)',
    replace: [
      [
        '    const seen = this.state.marks.get(markKey(organizationId, runId, kind));',
        "    const seen = new Set([...(this.state.marks.get(markKey(organizationId, runId, 'user')) ?? []), ...(this.state.marks.get(markKey(organizationId, runId, 'group')) ?? [])]);",
      ],
    ],
  },
  {
    name: 'marks-pad-space',
    fault: 'marked ids compared in a PAD SPACE collation',
    replace: [
      ['    for (const id of ids) seen.add(id);', '    for (const id of ids) seen.add(id.trimEnd());'],
      [
        '    return table.pageIds(page, (id) => !seen?.has(id));',
        '    return table.pageIds(page, (id) => !seen?.has(id.trimEnd()));',
      ],
    ],
  },
  {
    name: 'user-access-not-undone',
    fault: "a user's access state written in a transaction stays when the transaction throws",
    replace: [
      [
        '    this.record(this.state.setAccess(organizationId, userId, stored));',
        '    this.state.setAccess(organizationId, userId, stored);',
      ],
    ],
  },
  {
    name: 'groups-batch-truncated',
    fault: 'getGroups answers the first 1,000 ids asked and nothing for the rest',
    replace: [
      [
        '    const rows = this.state.groups.get(organizationId)?.rows;\n    return ids.map((id) => rows?.get(id));',
        '    const rows = this.state.groups.get(organizationId)?.rows;\n    return ids.map((id, i) => (i < 1000 ? rows?.get(id) : undefined));',
      ],
    ],
  },
  {
    name: 'user-access-batch-first-only',
    fault: 'putUserAccessBatch writes the first entry of each call and drops the rest',
    replace: [
      [
        '    for (const { userId, access } of entries) await this.putUserAccess(organizationId, userId, access);',
        '    for (const { userId, access } of entries.slice(0, 1)) await this.putUserAccess(organizationId, userId, access);',
      ],
    ],
  },
  {
    name: 'user-access-case-insensitive',
    fault: 'access state keyed by organization in a case-insensitive collation',
    replace: [
      [
        '  readonly access = new Map<string, Map<string, UserAccess>>();',
        '  readonly access = new CaseInsensitiveMap<Map<string, UserAccess>>();',
      ],
    ],
  },
  {
    name: 'user-access-shared-with-caller',
    fault: "the store keeps the caller's arrays, so changing them later changes the stored roles",
    replace: [
      [
        '      access && Object.freeze({ directory: frozenCopy([...access.directory]), manual: frozenCopy([...access.manual]) });',
        '      access;',
      ],
    ],
  },
  {
    name: 'access-rules-read-then-write',
    fault: "access rules' compare-and-set reads the revision, then writes after another round trip",
    replace: [
      [
        '    if (revision !== expectedRevision) return undefined;\n',
        '    if (revision !== expectedRevision) return undefined;\n    await roundTrip();\n',
      ],
    ],
  },
  {
    name: 'access-rules-revision-restarts',
    fault: 'removing the rules forgets the revision, so a writer holding an old revision can win again',
    replace: [
      [
        '    this.state.accessRules.set(organizationId, Object.freeze({ rules: frozenCopy(rules), revision: revision + 1 }));',
        '    if (rules === null) this.state.accessRules.delete(organizationId);\n    else this.state.accessRules.set(organizationId, Object.freeze({ rules: frozenCopy(rules), revision: revision + 1 }));',
      ],
    ],
  },
  {
    name: 'shared-key-lookups-unordered',
    fault: 'findUsers and findGroups answer the rows sharing a key in insertion order, not by id',
    replace: [
      [
        "  const sorted = typeof ids === 'string' ? [ids] : [...ids].sort(compareIds);",
        "  const sorted = typeof ids === 'string' ? [ids] : [...ids];",
      ],
    ],
  },
  {
    name: 'shared-key-lookups-unlimited',
    fault: 'findUsers and findGroups ignore their limit',
    replace: [['    if (out.length === limit) break;\n', '']],
  },
];
