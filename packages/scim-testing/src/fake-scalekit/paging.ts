/**
 * Keyset paging over a sorted id array. A page token names the id the page starts after (or ends
 * before, for `prevPageToken`), never an offset, so inserts and deletes between two pages neither
 * repeat nor skip anyone who was there all along.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { lowerBound, upperBound } from './sorted-ids.js';

/** Scalekit's documented default page size. */
export const DEFAULT_PAGE_SIZE = 10;
/**
 * The fake's cap. The SDK's JSDoc says 100 for users; the proto's validation rule (and the
 * OpenAPI document) say 30, which the real service may enforce by rejecting larger sizes.
 * The fake clamps instead, so a benchmark can use pages of 100.
 */
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  pageSize: number;
  pageToken: string;
}

export interface Page {
  ids: readonly string[];
  totalSize: number;
  nextPageToken: string;
  prevPageToken: string;
}

type Cursor = { after: string } | { before: string };

function encode(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decode(token: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed === 'object' && parsed !== null) {
    const { after, before } = parsed as { after?: unknown; before?: unknown };
    if (typeof after === 'string') return { after };
    if (typeof before === 'string') return { before };
  }
  throw new ConnectError(
    'invalid page_token: pass back a nextPageToken or prevPageToken from an earlier answer',
    Code.InvalidArgument,
  );
}

/** The page of `ids` that `request` asks for; a malformed token is `InvalidArgument`. */
export function pageOf(ids: readonly string[], request: PageRequest, maxPageSize = MAX_PAGE_SIZE): Page {
  const size = Math.min(request.pageSize > 0 ? request.pageSize : DEFAULT_PAGE_SIZE, maxPageSize);
  let start = 0;
  let end: number;
  if (request.pageToken === '') {
    end = Math.min(size, ids.length);
  } else {
    const cursor = decode(request.pageToken);
    if ('after' in cursor) {
      start = upperBound(ids, cursor.after);
      end = Math.min(start + size, ids.length);
    } else {
      end = lowerBound(ids, cursor.before);
      start = Math.max(0, end - size);
    }
  }
  const page = ids.slice(start, end);
  const first = page[0];
  const last = page[page.length - 1];
  return {
    ids: page,
    totalSize: ids.length,
    nextPageToken: last !== undefined && end < ids.length ? encode({ after: last }) : '',
    prevPageToken: first !== undefined && start > 0 ? encode({ before: first }) : '',
  };
}
