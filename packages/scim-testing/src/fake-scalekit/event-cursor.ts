/**
 * Page tokens of `ListEventsPaginated`. A token names a position in the event log and a direction
 * (`older`: the page after it in newest-first order, `newer`: the page before it), never an
 * offset, so events appended while a client pages never shift a page. Tokens are signed with a key
 * of this fake instance and carry a fingerprint of the filter they were issued for: a token that
 * was edited, comes from another listing or another fake, or is sent with a different filter is
 * `InvalidArgument`, as a real server answers a token it did not hand out.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';

export interface EventCursor {
  direction: 'older' | 'newer';
  /** The position the page starts after, away from it in `direction`. */
  seq: number;
}

/** A short, stable digest of a normalized filter; the same filter always gives the same one. */
export function filterFingerprint(normalized: unknown): string {
  return createHash('sha256').update(JSON.stringify(normalized)).digest('base64url').slice(0, 16);
}

function invalidToken(reason: string): ConnectError {
  return new ConnectError(`invalid page_token: ${reason}`, Code.InvalidArgument);
}

export class EventCursorCodec {
  readonly #key = randomBytes(32);

  encode(cursor: EventCursor, fingerprint: string): string {
    const payload = Buffer.from(
      JSON.stringify({ d: cursor.direction === 'older' ? 'o' : 'n', s: cursor.seq, f: fingerprint }),
    ).toString('base64url');
    return `${payload}.${this.#sign(payload)}`;
  }

  /** The cursor `token` names; throws `InvalidArgument` for anything this instance did not issue for `fingerprint`. */
  decode(token: string, fingerprint: string): EventCursor {
    const [payload, signature, ...rest] = token.split('.');
    const expected = payload === undefined ? undefined : Buffer.from(this.#sign(payload));
    const given = Buffer.from(signature ?? '');
    if (rest.length > 0 || !expected || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw invalidToken('pass back a nextPageToken or prevPageToken from an earlier ListEventsPaginated answer');
    }
    const { d, s, f } = JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8')) as {
      d: string;
      s: number;
      f: string;
    };
    if (f !== fingerprint) {
      throw invalidToken('it was issued for a different filter; send the same filter with every page');
    }
    return { direction: d === 'o' ? 'older' : 'newer', seq: s };
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url').slice(0, 22);
  }
}
