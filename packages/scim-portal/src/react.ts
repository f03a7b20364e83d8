'use client';
import { type CSSProperties, createElement, type ReactElement, useEffect, useRef } from 'react';
import type { PortalLinkError } from './errors.js';
import type { PortalEvent } from './events.js';
import type { PortalLink } from './link.js';
import { type MountAdminPortalOptions, mountAdminPortal } from './mount.js';

/** Props of `<AdminPortal>`: the options of `mountAdminPortal`, plus the wrapper's `className` and `style`. */
export interface AdminPortalProps {
  /** The app's link route. Default `/api/admin-portal/link`. Ignored when `fetchLink` is given. */
  linkUrl?: string;
  fetchLink?: (signal: AbortSignal) => Promise<PortalLink>;
  onEvent?: (event: PortalEvent) => void;
  onError?: (error: PortalLinkError) => void;
  height?: number | string;
  title?: string;
  maxRefreshes?: number;
  refreshWindowMs?: number;
  retryDelayMs?: number;
  className?: string;
  style?: CSSProperties;
}

/**
 * Scalekit's admin portal in a `<div>`, mounted with `mountAdminPortal` after render (so it renders
 * nothing portal-related on the server). Callbacks may change between renders without remounting;
 * changing `linkUrl`, `height`, `title` or the refresh options mounts a fresh frame.
 */
export function AdminPortal(props: AdminPortalProps): ReactElement {
  const { linkUrl, height, title, maxRefreshes, refreshWindowMs, retryDelayMs, className, style } = props;
  const container = useRef<HTMLDivElement>(null);
  const latest = useRef(props);
  useEffect(() => {
    latest.current = props;
  });
  const usesFetchLink = props.fetchLink !== undefined;

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const common = {
      onEvent: (event: PortalEvent) => latest.current.onEvent?.(event),
      onError: (error: PortalLinkError) => latest.current.onError?.(error),
      height,
      title,
      maxRefreshes,
      refreshWindowMs,
      retryDelayMs,
    };
    const options: MountAdminPortalOptions = usesFetchLink
      ? { ...common, fetchLink: (signal) => latest.current.fetchLink!(signal) }
      : { ...common, linkUrl };
    const portal = mountAdminPortal(element, options);
    return () => portal.unmount();
  }, [usesFetchLink, linkUrl, height, title, maxRefreshes, refreshWindowMs, retryDelayMs]);

  return createElement('div', { ref: container, className, style });
}
