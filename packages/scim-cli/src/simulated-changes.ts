/**
 * `fake-scalekit --webhook-url`: directory activity for an app under development. Each step makes
 * one change an identity provider would make, in a fixed cycle, so every kind of user webhook shows
 * up within four steps: a new hire, a profile edit, a team move, a departure.
 */
import type { FakeScalekit } from '@org/scim-testing/fake-scalekit';

export type ChangeTarget = Pick<FakeScalekit, 'upsertUser' | 'setUserGroups' | 'listUsers'>;

/** Returns `next()`, which applies the next change and describes it. */
export function simulateDirectoryActivity(
  fake: ChangeTarget,
  organizationId: string,
  seeded: { userIds: readonly string[]; groupIds: readonly string[] },
): { next(): string } {
  let step = 0;
  let hire = '';
  const group = (n: number) => seeded.groupIds[n % seeded.groupIds.length];
  return {
    next() {
      const cycle = Math.floor(step / 4);
      const kind = step % 4;
      step += 1;
      if (kind === 0) {
        hire = `diruser_live${String(cycle + 1).padStart(4, '0')}`;
        const first = group(cycle);
        fake.upsertUser(organizationId, {
          id: hire,
          email: `new.hire${cycle + 1}@example.com`,
          preferredUsername: `new.hire${cycle + 1}@example.com`,
          givenName: 'New',
          familyName: `Hire ${cycle + 1}`,
          name: `New Hire ${cycle + 1}`,
          externalId: `00ulive${cycle + 1}`,
          roles: ['member'],
          groups: first === undefined ? [] : [first],
          attributes: { department: 'Engineering', title: 'Engineer' },
        });
        return `created ${hire}`;
      }
      if (kind === 1) {
        // A seeded user's promotion; with none seeded, the new hire's.
        const id = seeded.userIds.length > 0 ? (seeded.userIds[cycle % seeded.userIds.length] as string) : hire;
        const current = fake.listUsers(organizationId).find((u) => u.id === id);
        fake.upsertUser(organizationId, {
          id,
          attributes: { ...current?.attributes, title: `Senior Engineer ${cycle + 1}` },
        });
        return `updated the title of ${id}`;
      }
      if (kind === 2) {
        const next = group(cycle + 1);
        if (next === undefined) {
          fake.upsertUser(organizationId, { id: hire, name: `New Hire ${cycle + 1} (renamed)` });
          return `renamed ${hire}`;
        }
        fake.setUserGroups(organizationId, hire, [next]);
        return `moved ${hire} to ${next}`;
      }
      fake.upsertUser(organizationId, { id: hire, active: false });
      return `deactivated ${hire}`;
    },
  };
}
