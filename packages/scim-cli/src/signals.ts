/**
 * The default stop signal: the first SIGINT or SIGTERM asks the command to stop cleanly (a
 * reconciliation finishes its page and keeps its checkpoint, the fake closes its sockets); a
 * second one exits at once, for a command that does not stop.
 */
import { ExitCode } from './exit-codes.js';

export function processStopSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
