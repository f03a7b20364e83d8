/**
 * Reconciliation progress on stderr: on a terminal, one status line redrawn in place (cli-progress);
 * elsewhere (CI logs, `--json`), one line per phase at most.
 *
 * The line shows no bar or percentage: the reconciler does not know how many users there are until
 * the listing ends, so it shows what it does know (phase, pages, listed, changes, time).
 */
import { Writable } from 'node:stream';
import type { ReconcilePhase, ReconcileProgress } from '@org/scim-core';
import cliProgress from 'cli-progress';
import { type CliOutput, println } from './io.js';

export interface ProgressReporter {
  update(progress: ReconcileProgress): void;
  stop(): void;
}

const PHASES: Record<ReconcilePhase, string> = {
  groups: 'listing groups',
  memberships: 'listing each group’s members',
  users: 'listing users',
  sweep: 'removing what the directory no longer has',
};

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Users and groups the run changed (or, dry, would change) so far. */
export function changesSoFar(progress: Pick<ReconcileProgress, 'users' | 'groups'>): number {
  const { users, groups } = progress;
  return (
    users.created +
    users.updated +
    users.reactivated +
    users.deactivated +
    groups.created +
    groups.updated +
    groups.deleted
  );
}

export function createProgressReporter(
  stderr: CliOutput,
  options: { organizationId: string; live: boolean },
): ProgressReporter {
  return options.live ? liveLine(stderr, options.organizationId) : phaseLines(stderr, options.organizationId);
}

function phaseLines(stderr: CliOutput, organizationId: string): ProgressReporter {
  let phase: ReconcilePhase | undefined;
  return {
    update(progress) {
      if (progress.phase === phase) return;
      phase = progress.phase;
      println(stderr, `${organizationId}: ${PHASES[phase]}…`);
    },
    stop() {},
  };
}

function liveLine(stderr: CliOutput, organizationId: string): ProgressReporter {
  // cli-progress draws with readline's cursor functions on a stream that says it is a TTY; this one
  // forwards to whatever `stderr` is, so a test can hand in a pretend terminal.
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        stderr.write(chunk.toString());
        callback();
      },
    }),
    { isTTY: true, columns: stderr.columns ?? 80 },
  );
  const started = Date.now();
  let latest: ReconcileProgress | undefined;
  const bar = new cliProgress.SingleBar({
    stream,
    fps: 10,
    hideCursor: true,
    clearOnComplete: true,
    linewrap: false,
    // It would exit the process on SIGINT; the command stops the run itself and then the bar.
    gracefulExit: false,
    format: () => {
      const frame = SPINNER[Math.floor((Date.now() - started) / 100) % SPINNER.length];
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (!latest) return `${frame} ${organizationId} │ connecting to Scalekit… │ ${seconds}s`;
      const { phase, pages, users, groups } = latest;
      return `${frame} ${organizationId} │ ${PHASES[phase]} │ ${pages} pages │ ${users.listed} users, ${groups.listed} groups listed │ ${changesSoFar(latest)} changes │ ${seconds}s`;
    },
  });
  bar.start(0, 0);
  return {
    update(progress) {
      latest = progress;
      bar.update(progress.pages);
    },
    stop() {
      bar.stop();
    },
  };
}
