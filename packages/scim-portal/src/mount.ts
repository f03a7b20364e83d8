import { PortalLinkError } from './errors.js';
import { isSessionExpired, type PortalEvent, parsePortalMessage } from './events.js';
import { DEFAULT_LINK_URL, fetchPortalLink, type PortalLink, validatePortalLink } from './link.js';

/** Scalekit asks for a frame at least this tall. */
export const MIN_PORTAL_HEIGHT = 600;

interface CommonOptions {
  /** Every portal event from the current link's origin and this frame, typed. */
  onEvent?: (event: PortalEvent) => void;
  /**
   * Called when the portal stops and needs `reload()`: the link route failed in a way retrying
   * cannot fix (401, 403, 404, an invalid answer), retryable failures (network, 429, 5xx) outlasted
   * the refresh budget (the last failure is reported), or the portal kept expiring (`refresh_limit`).
   */
  onError?: (error: PortalLinkError) => void;
  /**
   * A number of pixels (raised to 600 when smaller) or any CSS height such as `"80vh"` (then a
   * 600 px `min-height` applies). Default 600.
   */
  height?: number | string;
  /** The iframe's accessible name. Default `"Admin portal"`. */
  title?: string;
  /** Automatic link fetches (session refreshes and retries) allowed within `refreshWindowMs`. Default 3. */
  maxRefreshes?: number;
  /** Default 60 000 ms. */
  refreshWindowMs?: number;
  /**
   * The first automatic fetch in a window runs at once; the next ones wait `retryDelayMs`, then
   * twice that, and so on. Default 1 000 ms.
   */
  retryDelayMs?: number;
}

/** Options of `mountAdminPortal`: `linkUrl` or `fetchLink`, not both. */
export type MountAdminPortalOptions = CommonOptions &
  (
    | {
        /** The app's link route, fetched with same-origin credentials. Default `/api/admin-portal/link`. */
        linkUrl?: string;
        fetchLink?: never;
      }
    | {
        linkUrl?: never;
        /** Your own way to get a fresh link; the signal aborts on `unmount()`. */
        fetchLink: (signal: AbortSignal) => Promise<PortalLink>;
      }
  );

/**
 * `loading`: fetching a link. `open`: the frame shows the current link. `failed`: stopped after
 * `onError`; `reload()` tries again. `unmounted`: gone for good.
 */
export type AdminPortalStatus = 'loading' | 'open' | 'failed' | 'unmounted';

/** What `mountAdminPortal` returns. */
export interface AdminPortal {
  /** The iframe, already in the element; its `src` is set once a link arrives. */
  readonly frame: HTMLIFrameElement;
  readonly status: AdminPortalStatus;
  /** The link in the frame now. */
  readonly link: PortalLink | undefined;
  /**
   * Fetches a fresh link and puts it in the frame, with a fresh refresh budget. Joins a fetch
   * already under way. Never rejects: failures go to `onError` and leave `status` at `failed`.
   */
  reload(): Promise<void>;
  /** Removes the message listener and the frame and aborts any fetch; harmless when repeated. */
  unmount(): void;
}

/**
 * Embeds Scalekit's admin portal in `element`: appends an iframe, fills it with a fresh single-use
 * link, forwards the portal's events (only those from the link's origin and this frame) and fetches
 * a new link when the portal session expires, a bounded number of times.
 */
export function mountAdminPortal(element: HTMLElement, options: MountAdminPortalOptions = {}): AdminPortal {
  if (options.linkUrl !== undefined && options.fetchLink !== undefined) {
    throw new TypeError('mountAdminPortal: pass either linkUrl or fetchLink, not both');
  }
  const linkUrl = options.linkUrl ?? DEFAULT_LINK_URL;
  const getLink = options.fetchLink
    ? async (signal: AbortSignal) => validatePortalLink(await options.fetchLink!(signal))
    : (signal: AbortSignal) => fetchPortalLink(linkUrl, signal);
  const maxRefreshes = options.maxRefreshes ?? 3;
  const refreshWindowMs = options.refreshWindowMs ?? 60_000;
  const retryDelayMs = options.retryDelayMs ?? 1_000;

  const view = element.ownerDocument.defaultView ?? window;
  const frame = element.ownerDocument.createElement('iframe');
  frame.title = options.title ?? 'Admin portal';
  frame.width = '100%';
  applyHeight(frame, options.height);
  frame.allow = 'clipboard-write';
  element.append(frame);

  let status: AdminPortalStatus = 'loading';
  let link: PortalLink | undefined;
  let linkOrigin: string | undefined;
  let running: Promise<void> | undefined;
  let controller: AbortController | undefined;
  /** When each automatic fetch of the current window started. */
  let automaticFetches: number[] = [];

  const onMessage = (message: MessageEvent) => {
    if (status === 'unmounted' || linkOrigin === undefined) return;
    if (message.origin !== linkOrigin || message.source !== frame.contentWindow) return;
    const event = parsePortalMessage(message.data);
    if (!event) return;
    call(options.onEvent, event);
    if (isSessionExpired(event)) void refresh(false);
  };
  view.addEventListener('message', onMessage);

  function refresh(explicit: boolean): Promise<void> {
    if (status === 'unmounted') return Promise.resolve();
    if (explicit) automaticFetches = [];
    running ??= load(explicit).finally(() => {
      running = undefined;
    });
    return running;
  }

  async function load(explicit: boolean): Promise<void> {
    status = 'loading';
    const ownController = new AbortController();
    controller = ownController;
    const { signal } = ownController;
    let automatic = !explicit;
    let lastError: PortalLinkError | undefined;
    for (;;) {
      if (automatic) {
        const now = Date.now();
        automaticFetches = automaticFetches.filter((startedAt) => now - startedAt < refreshWindowMs);
        if (automaticFetches.length >= maxRefreshes) {
          return fail(
            lastError ??
              new PortalLinkError(
                'refresh_limit',
                `The admin portal asked for a fresh link ${maxRefreshes} times within ${refreshWindowMs} ms; ` +
                  'stopped to avoid a reload loop. Call reload() to try again.',
              ),
          );
        }
        const delay = automaticFetches.length === 0 ? 0 : retryDelayMs * 2 ** (automaticFetches.length - 1);
        automaticFetches.push(now);
        if (!(await sleep(delay, signal))) return;
      }
      try {
        const next = await getLink(signal);
        if (signal.aborted) return;
        link = next;
        linkOrigin = new URL(next.location).origin;
        frame.src = next.location;
        status = 'open';
        return;
      } catch (error) {
        if (signal.aborted) return;
        lastError =
          error instanceof PortalLinkError
            ? error
            : new PortalLinkError('fetch_link_failed', `fetchLink failed: ${describe(error)}`, {
                retryable: true,
                cause: error,
              });
        if (!lastError.retryable) return fail(lastError);
        automatic = true;
      }
    }
  }

  function fail(error: PortalLinkError): void {
    status = 'failed';
    call(options.onError, error);
  }

  void refresh(true);

  return {
    frame,
    get status() {
      return status;
    },
    get link() {
      return link;
    },
    reload: () => refresh(true),
    unmount() {
      if (status === 'unmounted') return;
      status = 'unmounted';
      view.removeEventListener('message', onMessage);
      controller?.abort();
      frame.remove();
    },
  };
}

function applyHeight(frame: HTMLIFrameElement, height: number | string = MIN_PORTAL_HEIGHT): void {
  if (typeof height === 'string' && !/^\d+$/.test(height)) {
    frame.height = String(MIN_PORTAL_HEIGHT);
    frame.style.height = height;
    frame.style.minHeight = `${MIN_PORTAL_HEIGHT}px`;
    return;
  }
  const pixels = Number(height);
  frame.height = String(Number.isFinite(pixels) ? Math.max(MIN_PORTAL_HEIGHT, Math.round(pixels)) : MIN_PORTAL_HEIGHT);
}

/** Resolves `true` after `ms`, or `false` as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs a user callback; what it throws is reported like an uncaught error, not into the portal's state. */
function call<T>(callback: ((value: T) => void) | undefined, value: T): void {
  try {
    callback?.(value);
  } catch (error) {
    setTimeout(() => {
      throw error;
    });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
