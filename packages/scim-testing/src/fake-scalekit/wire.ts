/** Conversions between the fake's plain values and protobuf well-known types. */
import { create } from '@bufbuild/protobuf';
import { type Timestamp, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';

const NANOS_PER_SECOND = 1_000_000_000n;

/** A protobuf `Timestamp` carrying the stamp to the nanosecond. */
export function timestampFromNanos(nanos: bigint): Timestamp {
  const seconds = nanos / NANOS_PER_SECOND;
  return create(TimestampSchema, { seconds, nanos: Number(nanos - seconds * NANOS_PER_SECOND) });
}

/** A protobuf `Timestamp` from a millisecond clock reading (fractions of a millisecond kept). */
export function timestampFromMillis(ms: number): Timestamp {
  const whole = Math.floor(ms);
  return timestampFromNanos(BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6)));
}

export function nanosFromTimestamp(timestamp: Timestamp): bigint {
  return timestamp.seconds * NANOS_PER_SECOND + BigInt(timestamp.nanos);
}

export function notFound(what: string): ConnectError {
  return new ConnectError(`${what} not found`, Code.NotFound);
}
