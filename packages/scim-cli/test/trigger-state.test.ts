/**
 * `scim-sync trigger` is about the user or group it is told about: consecutive triggers reach an
 * app's real webhook route (receiver + engine on a memory store, over HTTP on 127.0.0.1) as events
 * about the same ids, newer each time, remembered in a state file that is read as untrusted input.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatNanos, parseRfc3339Nanos } from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { describe, expect, it } from 'vitest';
import { nextOccurredAt } from '../src/event-clock.js';
import { type Receiver, run, startReceiver, tempDir } from './helpers.js';

const STATE = join('.scim-sync', 'trigger-state.json');

/** A receiver and a fresh working directory (where the state file goes) for one test. */
async function setup() {
  const receiver = await startReceiver(generateWebhookSecret());
  const cwd = tempDir();
  const trigger = (type: string, ...extra: string[]) =>
    run(['trigger', type, '--url', receiver.url, '--secret', receiver.secret, ...extra], { cwd });
  return { receiver, cwd, trigger };
}

/** The value of one `  label  value` line of trigger's output. */
function printed(stdout: string, label: string): string | undefined {
  return new RegExp(`^ {2}${label} +(.+)$`, 'm').exec(stdout)?.[1];
}

const userIdOf = (stdout: string) => printed(stdout, 'user')?.split(' ')[0];

const handlers = (receiver: Receiver) => receiver.calls.map((call) => call.handler);

describe('scim-sync trigger remembers whom it told the app about', () => {
  it('user_created then user_updated by e-mail updates that user (userUpdated, not a second userCreated)', async () => {
    const { receiver, trigger } = await setup();
    const created = await trigger('user_created', '-d', 'email=ada@example.com');
    expect(created.code).toBe(0);
    const updated = await trigger('user_updated', '-d', 'email=ada@example.com', '-d', 'name.given=Augusta');
    expect(updated.code).toBe(0);

    expect(receiver.callsOf('userCreated')).toHaveLength(1);
    const [update] = receiver.callsOf('userUpdated');
    expect(update?.user?.id).toBe(receiver.callsOf('userCreated')[0]?.user?.id);
    expect(update?.user).toMatchObject({ email: 'ada@example.com', givenName: 'Augusta', name: 'Augusta Lovelace' });
    expect(update?.changed).toEqual(expect.arrayContaining(['givenName', 'name']));
    expect(userIdOf(updated.stdout)).toBe(update?.user?.id);
    for (const label of ['organization', 'directory']) {
      expect(printed(updated.stdout, label)).toBe(printed(created.stdout, label));
    }
  });

  it('starts each snapshot from the last one sent: fields given before stay, e-mail renames carry preferred_username', async () => {
    const { receiver, trigger } = await setup();
    await trigger('user_created', '-d', 'email=ada@example.com', '-d', 'title=CTO', '-d', 'custom_attributes.floor=3');
    await trigger('user_updated', '-d', 'email=ada@example.com', '-d', 'department=Research');
    const [update] = receiver.callsOf('userUpdated');
    expect(update?.changed).toEqual(['attributes']);
    expect(update?.user?.attributes).toMatchObject({ title: 'CTO', department: 'Research' });
    expect(update?.user?.customAttributes).toEqual({ floor: 3 });

    const id = update?.user?.id as string;
    await trigger('user_updated', '--user', id, '-d', 'email=augusta@example.com');
    expect(receiver.callsOf('userUpdated')[1]?.user).toMatchObject({
      id,
      email: 'augusta@example.com',
      userName: 'augusta@example.com',
    });
    const found = await trigger('user_updated', '-d', 'email=augusta@example.com', '-d', 'title=Countess');
    expect(userIdOf(found.stdout)).toBe(id);
  });

  it('keeps the user’s groups across an update unless told, and sets them with --groups or -d groups', async () => {
    const { receiver, trigger } = await setup();
    await trigger('user_created', '-d', 'email=ada@example.com');
    const [joined] = receiver.callsOf('membershipAdded');
    expect(joined?.group).toMatchObject({ name: 'Engineering' });

    receiver.calls.length = 0;
    expect((await trigger('user_updated', '-d', 'email=ada@example.com', '-d', 'title=CTO')).code).toBe(0);
    expect(handlers(receiver)).toEqual(['userUpdated']);
    expect(receiver.callsOf('userUpdated')[0]?.user?.groups).toEqual([joined?.group]);

    receiver.calls.length = 0;
    const moved = await trigger('user_updated', '-d', 'email=ada@example.com', '--groups', 'Engineering,Ops');
    expect(moved.code).toBe(0);
    expect(handlers(receiver)).toEqual(['membershipAdded']);
    expect(receiver.callsOf('membershipAdded')[0]?.group).toMatchObject({ name: 'Ops' });
    expect(printed(moved.stdout, 'groups')).toContain(`${joined?.group?.id} (Engineering)`);

    receiver.calls.length = 0;
    await trigger('user_updated', '-d', 'email=ada@example.com', '-d', 'title=CEO');
    expect(handlers(receiver)).toEqual(['userUpdated']);
    expect(receiver.callsOf('userUpdated')[0]?.user?.groups.map((g) => g.name)).toEqual(
      expect.arrayContaining(['Engineering', 'Ops']),
    );

    receiver.calls.length = 0;
    await trigger('user_updated', '-d', 'email=ada@example.com', '--groups', '');
    expect(handlers(receiver).sort()).toEqual(['membershipRemoved', 'membershipRemoved']);

    receiver.calls.length = 0;
    await trigger('user_updated', '-d', 'email=ada@example.com', '-d', `groups=[{"id":"${joined?.group?.id}"}]`);
    expect(handlers(receiver)).toEqual(['membershipAdded']);
    expect(receiver.callsOf('membershipAdded')[0]?.group?.id).toBe(joined?.group?.id);
  });

  it('user_deleted by e-mail deactivates that user, and no other', async () => {
    const { receiver, trigger } = await setup();
    const ada = userIdOf((await trigger('user_created', '-d', 'email=ada@example.com')).stdout);
    const grace = userIdOf((await trigger('user_created', '-d', 'email=grace@example.com')).stdout);
    expect(ada).not.toBe(grace);

    receiver.calls.length = 0;
    const deleted = await trigger('user_deleted', '-d', 'email=ADA@example.com');
    expect(deleted.code).toBe(0);
    expect(userIdOf(deleted.stdout)).toBe(ada);
    expect(receiver.callsOf('userDeactivated')).toEqual([
      expect.objectContaining({ reason: 'deleted', user: expect.objectContaining({ id: ada }) }),
    ]);
    expect(receiver.callsOf('membershipRemoved').map((call) => call.user?.id)).toEqual([ada]);

    // Forgotten once deleted: the next user_created with that e-mail is a new user.
    receiver.calls.length = 0;
    const again = await trigger('user_created', '-d', 'email=ada@example.com');
    expect(userIdOf(again.stdout)).not.toBe(ada);
    expect(handlers(receiver)).toContain('userCreated');
  });

  it('names the user by --user or -d id, and refuses the two naming different users (exit 2)', async () => {
    const { receiver, trigger } = await setup();
    expect((await trigger('user_created', '--user', 'diruser_1', '-d', 'email=one@example.com')).code).toBe(0);
    expect((await trigger('user_updated', '-d', 'id=diruser_1', '-d', 'title=CTO')).code).toBe(0);
    const byFlag = await trigger('user_updated', '--user', 'diruser_1', '-d', 'active=false');
    expect(byFlag.code).toBe(0);
    expect(receiver.callsOf('userUpdated')[0]?.user).toMatchObject({ id: 'diruser_1', email: 'one@example.com' });
    expect(receiver.callsOf('userDeactivated')[0]).toMatchObject({ reason: 'inactive', user: { id: 'diruser_1' } });

    // Remembered as inactive: an unrelated change does not reactivate the user.
    receiver.calls.length = 0;
    await trigger('user_updated', '--user', 'diruser_1', '-d', 'title=Advisor');
    expect(handlers(receiver)).toEqual(['userUpdated']);

    const conflict = await trigger('user_updated', '--user', 'diruser_1', '-d', 'id=diruser_2');
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('--user diruser_1 and -d id=diruser_2 name two different ones');
    expect((await trigger('group_updated', '--user', 'diruser_1')).code).toBe(2);
  });

  it('without an id or e-mail, user_updated and user_deleted are about the last user sent', async () => {
    const { receiver, trigger } = await setup();
    const id = userIdOf((await trigger('user_created')).stdout);
    await trigger('user_updated', '-d', 'department=Research');
    await trigger('user_deleted');
    expect(receiver.callsOf('userUpdated')[0]?.user?.id).toBe(id);
    expect(receiver.callsOf('userDeactivated')[0]?.user?.id).toBe(id);
    // Two live users made without an e-mail do not share one.
    await trigger('user_created');
    await trigger('user_created');
    const [, second, third] = receiver.callsOf('userCreated').map((call) => call.user?.email);
    expect(second).toBe('ada.lovelace@example.com');
    expect(third).toBe('ada.lovelace+2@example.com');
  });

  it('groups: by display name; a deleted group stays out of its members’ later snapshots', async () => {
    const { receiver, trigger } = await setup();
    const created = await trigger('group_created', '-d', 'display_name=Ops');
    const groupId = printed(created.stdout, 'group')?.split(' ')[0];
    expect(groupId).toMatch(/^dirgroup_\d{17}$/);
    await trigger('user_created', '-d', 'email=ada@example.com', '--groups', 'Ops');
    await trigger('group_updated', '-d', 'display_name=Ops', '-d', 'external_id=00gOps');
    expect(receiver.callsOf('membershipAdded')[0]?.group?.id).toBe(groupId);
    expect(receiver.callsOf('groupUpdated')[0]?.group).toMatchObject({ id: groupId, externalId: '00gOps' });

    const deleted = await trigger('group_deleted', '--group', groupId as string);
    expect(deleted.code).toBe(0);
    expect(receiver.callsOf('groupDeleted')[0]?.group?.id).toBe(groupId);
    receiver.calls.length = 0;
    const after = await trigger('user_updated', '-d', 'email=ada@example.com', '-d', 'title=CTO');
    expect(printed(after.stdout, 'groups')).toBe('(none)');
    expect(handlers(receiver)).toEqual(['userUpdated']);
  });

  it('prints the organization, directory, user and group ids; --organization and $SCIM_SYNC_* choose them', async () => {
    const { receiver, cwd } = await setup();
    const { code, stdout } = await run(
      ['trigger', 'user_created', '--url', receiver.url, '--user', 'diruser_7', '--organization', 'org_42'],
      { cwd, env: { SCALEKIT_WEBHOOK_SECRET: receiver.secret, SCIM_SYNC_DIRECTORY_ID: 'dir_9' } },
    );
    expect(code).toBe(0);
    const groupId = receiver.callsOf('membershipAdded')[0]?.group?.id;
    expect(stdout).toMatch(
      new RegExp(
        '^evt_\\d+ organization\\.directory\\.user_created → POST .+\\n' +
          '  organization  org_42\\n' +
          '  directory     dir_9\\n' +
          '  user          diruser_7 \\(ada\\.lovelace@example\\.com\\)\\n' +
          `  groups        ${groupId} \\(Engineering\\)\\n` +
          'HTTP 200 OK\\n',
      ),
    );
    expect(receiver.callsOf('userCreated')[0]?.user?.organizationId).toBe('org_42');
    // The organization of the last trigger is the next one's default.
    const next = await run(['trigger', 'directory_enabled', '--url', receiver.url, '--secret', receiver.secret], {
      cwd,
    });
    expect(printed(next.stdout, 'organization')).toBe('org_42');
    expect(printed(next.stdout, 'directory')).toBe('dir_9');
  });

  it('--json prints exactly one JSON object with the ids and the answer', async () => {
    const { receiver, trigger } = await setup();
    const user = await trigger('user_created', '-d', 'email=ada@example.com', '--json');
    expect(user.code).toBe(0);
    const result = JSON.parse(user.stdout) as Record<string, unknown>;
    expect(Object.keys(result)).toEqual([
      'eventId',
      'type',
      'organizationId',
      'directoryId',
      'userId',
      'groupIds',
      'email',
      'status',
      'body',
    ]);
    const created = receiver.callsOf('userCreated')[0]?.user;
    expect(result).toMatchObject({
      eventId: expect.stringMatching(/^evt_\d+$/),
      type: 'organization.directory.user_created',
      organizationId: created?.organizationId,
      directoryId: expect.stringMatching(/^dir_\d{17}$/),
      userId: created?.id,
      groupIds: created?.groups.map((g) => g.id),
      email: 'ada@example.com',
      status: 200,
      body: { received: true, eventId: result.eventId, status: 'applied' },
    });

    const group = JSON.parse((await trigger('group_created', '--json')).stdout) as Record<string, unknown>;
    expect(group).toMatchObject({ type: 'organization.directory.group_created', groupId: expect.any(String) });
    expect(group).not.toHaveProperty('userId');

    const refused = await run(['trigger', 'user_updated', '--json', '--url', receiver.url, '--no-state'], {
      env: { SCALEKIT_WEBHOOK_SECRET: generateWebhookSecret() },
    });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ status: 401, body: { error: { code: 'invalid_signature' } } });
  });
});

describe('scim-sync trigger timestamps', () => {
  it('issues strictly increasing times, many within one millisecond', () => {
    const times = Array.from({ length: 10_000 }, () => nextOccurredAt());
    for (let i = 1; i < times.length; i++) expect(times[i] as bigint).toBeGreaterThan(times[i - 1] as bigint);
    const floor = BigInt(Date.now() + 3_600_000) * 1_000_000n;
    expect(nextOccurredAt(floor)).toBe(floor + 1n);
  });

  it('sends each event after the newest the state file remembers, so the engine never finds it stale', async () => {
    const { receiver, cwd, trigger } = await setup();
    const created = JSON.parse((await trigger('user_created', '-d', 'email=ada@example.com', '--json')).stdout) as {
      organizationId: string;
      userId: string;
    };
    // Another machine, whose clock runs an hour ahead, updated the user and wrote the state file.
    const ahead = formatNanos(BigInt(Date.now() + 3_600_000) * 1_000_000n);
    const factory = createEventFactory({ organizationId: created.organizationId });
    const delivered = await deliverWebhook(
      receiver.url,
      factory.userUpdated({ id: created.userId, email: 'ada@example.com', title: 'Ahead' }, { occurredAt: ahead }),
      { secret: receiver.secret },
    );
    expect(delivered.body).toMatchObject({ status: 'applied' });
    const path = join(cwd, STATE);
    writeFileSync(path, readFileSync(path, 'utf8').replaceAll(/"occurredAt": "[^"]+"/g, `"occurredAt": "${ahead}"`));

    receiver.calls.length = 0;
    const updated = JSON.parse((await trigger('user_updated', '-d', 'email=ada@example.com', '--json')).stdout) as {
      body: { status: string };
    };
    expect(updated.body.status).toBe('applied');
    expect(receiver.callsOf('userUpdated')[0]?.changed).toContain('attributes');

    // Back-to-back triggers of the same user are all applied, none stale.
    for (let i = 0; i < 5; i++) {
      const { stdout } = await trigger('user_updated', '-d', 'email=ada@example.com', '-d', `title=T${i}`, '--json');
      expect(JSON.parse(stdout).body.status).toBe('applied');
    }
    expect(parseRfc3339Nanos(JSON.parse(readFileSync(path, 'utf8')).organizations[0].occurredAt)).toBeGreaterThan(
      parseRfc3339Nanos(ahead) as bigint,
    );
  });
});

describe('the trigger state file', () => {
  it('is written atomically with mode 0600, leaves no temporary file, and says once where it is', async () => {
    const { trigger, cwd } = await setup();
    const first = await trigger('user_created', '-d', 'email=ada@example.com');
    expect(first.stderr).toContain(`Note: the ids are remembered in ${STATE}`);
    expect((await trigger('user_updated', '-d', 'email=ada@example.com')).stderr).toBe('');
    const path = join(cwd, STATE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(cwd, '.scim-sync'))).toEqual(['trigger-state.json']);
    const state = JSON.parse(readFileSync(path, 'utf8'));
    expect(state).toMatchObject({
      version: 1,
      organizations: [{ users: [{ email: 'ada@example.com', groups: [{ name: 'Engineering' }] }] }],
    });
  });

  it('--state chooses the file; --no-state writes none and remembers nothing', async () => {
    const { receiver, trigger, cwd } = await setup();
    await trigger('user_created', '-d', 'email=ada@example.com', '--state', 'custom/state.json');
    expect(statSync(join(cwd, 'custom', 'state.json')).isFile()).toBe(true);
    receiver.calls.length = 0;
    const forgetful = await trigger('user_updated', '-d', 'email=ada@example.com', '--no-state');
    expect(forgetful.stderr).toContain('Note: no user with e-mail ada@example.com was sent to');
    expect(readdirSync(cwd)).toEqual(['custom']);
    expect((await trigger('user_created', '--state', 'x.json', '--no-state')).code).toBe(2);
  });

  const HOSTILE: [string, string | Buffer, string][] = [
    ['not JSON', '{"version": 1, "organizations": [', 'is not valid JSON'],
    [
      'a __proto__ key',
      '{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","users":[],"groups":[],"__proto__":{"polluted":true}}]}',
      'holds a "__proto__" key',
    ],
    [
      'a constructor key',
      '{"version":1,"organizations":[],"constructor":{"polluted":true}}',
      'holds a "constructor" key',
    ],
    ['a prototype key', '{"version":1,"organizations":[{"prototype":{}}]}', 'holds a "prototype" key'],
    ['another version', '{"version":2,"organizations":[]}', 'has version "2"; this scim-sync reads version 1'],
    [
      'an unknown key',
      '{"version":1,"organizations":[],"toString":1}',
      'is not a state file trigger wrote: the top level has an unknown key "toString"',
    ],
    [
      'users that are not a list',
      '{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","users":{"diruser_1":{}},"groups":[]}]}',
      'is not a state file trigger wrote: organizations[0].users is not an array',
    ],
    [
      'an e-mail that is not a string',
      '{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","groups":[],"users":[{"id":"u","email":7,"active":true,"groups":[],"attributes":{},"occurredAt":"2025-01-01T00:00:00Z"}]}]}',
      'is not a state file trigger wrote: organizations[0].users[0].email is not a string',
    ],
    [
      'a user listed twice',
      `{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","groups":[],"users":[${'{"id":"u","active":true,"groups":[],"attributes":{},"occurredAt":"2025-01-01T00:00:00Z"},'.repeat(2).slice(0, -1)}]}]}`,
      'is not a state file trigger wrote: organizations[0].users[1].id "u" appears twice',
    ],
    [
      'a time that is not RFC 3339',
      '{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","occurredAt":"yesterday","users":[],"groups":[]}]}',
      'is not a state file trigger wrote: organizations[0].occurredAt is not an RFC 3339 date-time',
    ],
    [
      'an attribute that is a field of its own',
      '{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","groups":[],"users":[{"id":"u","active":true,"groups":[],"attributes":{"id":"diruser_2"},"occurredAt":"2025-01-01T00:00:00Z"}]}]}',
      'is not a state file trigger wrote: organizations[0].users[0].attributes has the key "id", which is not an attribute',
    ],
    [
      'an attribute nested 25 deep',
      `{"version":1,"organizations":[{"id":"org_1","directoryId":"dir_1","groups":[],"users":[{"id":"u","active":true,"groups":[],"attributes":{"title":${'['.repeat(25)}${']'.repeat(25)}},"occurredAt":"2025-01-01T00:00:00Z"}]}]}`,
      'is not a state file trigger wrote: organizations[0].users[0].attributes.title is deeper than 24 levels',
    ],
    ['bytes that are not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'is not UTF-8 text'],
    ['a file over 16 MiB', ' '.repeat(16 * 1024 * 1024 + 1), 'is 16777217 bytes, over the 16777216-byte limit'],
  ];

  it.each(HOSTILE)('holding %s is refused with exit 2, and nothing is sent', async (_, content, message) => {
    const { receiver, trigger, cwd } = await setup();
    mkdirSync(join(cwd, '.scim-sync'));
    writeFileSync(join(cwd, STATE), content);
    const { code, stderr, stdout } = await trigger('user_updated', '-d', 'email=ada@example.com');
    expect(code).toBe(2);
    expect(stderr).toContain(`scim-sync: the state file ${STATE} ${message}`);
    expect(stderr).toContain('delete it to start afresh, or pass --state <another file>, or --no-state');
    expect(stdout).toBe('');
    expect(receiver.calls).toEqual([]);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    // Left as it was (compared with equals: a diff of 16 MiB would exhaust the heap).
    expect(readFileSync(join(cwd, STATE)).equals(Buffer.from(content))).toBe(true);
  });

  it('that is a directory or a FIFO is refused at once (exit 2), not read', async () => {
    const { trigger, cwd } = await setup();
    mkdirSync(join(cwd, STATE), { recursive: true });
    const directory = await trigger('user_created');
    expect(directory.code).toBe(2);
    expect(directory.stderr).toContain('is not a regular file');
    if (process.platform === 'win32') return;
    execFileSync('mkfifo', [join(cwd, 'fifo.json')]);
    const fifo = await trigger('user_created', '--state', 'fifo.json');
    expect(fifo.code).toBe(2);
    expect(fifo.stderr).toContain('the state file fifo.json is not a regular file');
  });
});

describe('scim-sync trigger without a secret', () => {
  it('is a usage error (exit 2) that says where a secret comes from', async () => {
    const { code, stderr } = await run(['trigger', 'user_created', '--url', 'http://127.0.0.1:9/webhooks/scalekit']);
    expect(code).toBe(2);
    expect(stderr).toContain('--secret <whsec_…> is required (or set SCALEKIT_WEBHOOK_SECRET)');
    expect(stderr).toContain('make one with `scim-sync secret`');
    const malformed = await run(['trigger', 'user_created', '--url', 'http://127.0.0.1:9/', '--secret', 'hunter2!']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('scim-sync secret');
  });
});
