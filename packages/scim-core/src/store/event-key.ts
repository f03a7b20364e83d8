import type { IncomingEvent } from '../model.js';
import type { EventKey } from './types.js';

/**
 * The ledger key of an event: its environment (Scalekit's `environment_id`, `''` where the source
 * has none), its organization (`''` for a passthrough event that names none) and its id. The same
 * `evt_…` signed for another organization is another event, and is applied.
 */
export function eventKey(event: IncomingEvent): EventKey {
  return {
    environmentId: event.environmentId ?? '',
    organizationId: event.organizationId ?? '',
    eventId: event.id,
  };
}
