/** The exit codes of `scim-sync`, as documented in `--help` and the README. */
export const ExitCode = {
  /** The command did what it was asked (reconcile: `completed`; trigger: a 2xx answer). */
  ok: 0,
  /** reconcile: `failed` (a Scalekit, store or handler error); trigger: a non-2xx answer or no answer. */
  failed: 1,
  /** A usage or configuration error: nothing ran. */
  usage: 2,
  /** reconcile: the deprovisioning guard tripped; creations and updates were applied, no deactivation. */
  guardTripped: 3,
  /** reconcile: another run of the same organization holds its lock. */
  alreadyRunning: 4,
  /** Interrupted by SIGINT or SIGTERM before it finished (reconcile keeps its checkpoint). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
