/**
 * Every 5xx an example answers reaches one hook with its cause: a 5xx says "our fault", and without
 * the cause in a log nobody can fix it. Core's routes report theirs (`onError` of the webhook
 * receiver and the portal-link route); the examples report their own (a failed sync, a route that
 * threw) to the same hook. The default writes one line and the cause's stack to stderr; pass your
 * own to send them to your error tracker.
 */
import type { WebhookFailure } from '../index.js';

export interface ServerError {
  /** `POST /api/sync`, `GET /api/users`… */
  route: string;
  status: number;
  code: string;
  message: string;
  /** What went wrong underneath: the thrown error, or a failed run's `{ code, message }`. */
  cause?: unknown;
}

export type ServerErrorHook = (failure: ServerError) => void;

/** One line, then the cause (its stack when it is an `Error`). */
export function formatServerError(failure: ServerError): string {
  const { cause } = failure;
  const detail = cause === undefined ? '' : `\n  cause: ${describe(cause)}`;
  return `[example] ${failure.route} answered ${failure.status} ${failure.code}: ${failure.message}${detail}`;
}

/** An error's stack, then what it was caused by (a handler's own error is the cause of core's), five deep at most. */
function describe(cause: unknown, depth = 0): string {
  if (cause instanceof Error) {
    const own = cause.stack ?? `${cause.name}: ${cause.message}`;
    return cause.cause === undefined || depth >= 4 ? own : `${own}\n  caused by: ${describe(cause.cause, depth + 1)}`;
  }
  try {
    return JSON.stringify(cause) ?? String(cause);
  } catch {
    return String(cause);
  }
}

/** The default hook: `console.error`. */
export const logServerError: ServerErrorHook = (failure) => console.error(formatServerError(failure));

/** The webhook receiver's `onError`, reporting its 5xx (a handler or the store failed) to `hook`. */
export function webhookServerErrors(hook: ServerErrorHook): (failure: WebhookFailure) => void {
  return ({ status, code, message, error }) => {
    if (status >= 500) hook({ route: 'POST /webhooks/scalekit', status, code, message, cause: error });
  };
}
