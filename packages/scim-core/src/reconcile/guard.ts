/**
 * The deprovisioning guard: a listing that comes back empty or mostly empty (a misconfigured
 * directory, a filter changed at the identity provider, an outage answered with an empty page) must
 * not deactivate a customer's whole workforce. Above the threshold the run stops before any
 * deactivation and says why; `force` overrides it.
 */

export interface DeprovisionGuardOptions {
  /** Refuse when a run would remove more than this share of the users (or groups) the mirror held. Default 0.2. */
  maxShare?: number;
  /** Refuse when a run would remove more than this many users (or groups). Default 100. */
  maxCount?: number;
}

export interface GuardCheck {
  /** What the run would deactivate (users) or delete (groups). */
  readonly removals: number;
  /** How many the mirror held when the listing began; `undefined` for an incremental run, which cannot tell. */
  readonly mirrored: number | undefined;
  /** The most this run may remove without `force`. */
  readonly allowed: number;
  readonly tripped: boolean;
  /** Why it tripped, in words a person can act on. */
  readonly reason?: string;
}

export function checkGuard(
  kind: 'users' | 'groups',
  removals: number,
  mirrored: number | undefined,
  listed: number,
  options: Required<DeprovisionGuardOptions>,
): GuardCheck {
  // At least one removal is always allowed, so a small directory can lose a member.
  const allowed =
    mirrored === undefined
      ? options.maxCount
      : Math.min(options.maxCount, Math.max(1, Math.floor(options.maxShare * mirrored)));
  let reason: string | undefined;
  if (removals > 0 && listed === 0 && mirrored !== undefined) {
    reason = `The listing returned no ${kind} while the mirror holds ${mirrored}; an empty directory is more likely a misconfiguration than everyone leaving.`;
  } else if (removals > allowed) {
    const of = mirrored === undefined ? '' : ` of ${mirrored}`;
    reason = `The run would remove ${removals}${of} ${kind}, more than the ${allowed} allowed (maxShare ${options.maxShare}, maxCount ${options.maxCount}).`;
  }
  const check = { removals, mirrored, allowed, tripped: reason !== undefined };
  return reason === undefined
    ? check
    : { ...check, reason: `${reason} Nothing was deactivated; rerun with force to apply.` };
}
