/**
 * A Produce request's `acks`, read from the first bytes of its frame when they hold it: a
 * Produce with acks=0 gets no response from the broker (Kafka's ProduceRequest.json, "0 for
 * no acknowledgments"), so the broker filter does not wait for one (kafka-in-flight.ts).
 *
 * Where acks sits (clients/src/main/resources/common/message/RequestHeader.json,
 * ProduceRequest.json): after the request header — api key, version, correlation id, the
 * INT16-length client_id, and from Produce v9 (its first flexible version, header v2) the
 * header's tagged fields — come, from v3, transactional_id (an INT16-length nullable string;
 * from v9 a compact one, an unsigned varint of length + 1, 0 for null), then acks (INT16).
 * A client_id, transactional_id or tagged field too long for the bytes held leaves acks
 * unread: the request is then kept like any other.
 */
import { REQUEST_HEAD_SIZE } from "./kafka-headers.ts";

export const PRODUCE_API_KEY = 0;
/** Produce's first flexible version: header v2 and compact strings. */
const FIRST_FLEXIBLE_VERSION = 9;
/** Produce's first version with transactional_id. */
const FIRST_TRANSACTIONAL_VERSION = 3;

/**
 * How many bytes of a request's frame the filter holds to read it: the header and, for the
 * usual short client_id and transactional_id, a Produce's acks (Java's "producer-1",
 * kafkajs's "kafkajs", librdkafka's "rdkafka").
 */
export const REQUEST_READ_SIZE = 512;

/**
 * The acks of the Produce request of `size` bytes (`apiVersion`, up to `maxVersion`, whose
 * layout is known) whose first bytes are `head`, or undefined when `head` does not hold it.
 */
export function produceAcks(apiVersion: number, maxVersion: number, size: number, head: Uint8Array): number | undefined {
  if (apiVersion < 0 || apiVersion > maxVersion) return undefined;
  const end = Math.min(size, head.byteLength);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (end < REQUEST_HEAD_SIZE) return undefined;
  let at = REQUEST_HEAD_SIZE + Math.max(0, view.getInt16(8));
  const flexible = apiVersion >= FIRST_FLEXIBLE_VERSION;
  if (flexible) {
    // The header's tagged fields: a count, then each a tag, a size and that many bytes.
    const count = unsignedVarint(head, at, end);
    if (count === undefined) return undefined;
    at = count.next;
    for (let i = 0; i < count.value; i++) {
      const tag = unsignedVarint(head, at, end);
      const length = tag && unsignedVarint(head, tag.next, end);
      if (length === undefined) return undefined;
      at = length.next + length.value;
    }
  }
  if (apiVersion >= FIRST_TRANSACTIONAL_VERSION) {
    if (flexible) {
      const length = unsignedVarint(head, at, end);
      if (length === undefined) return undefined;
      at = length.next + Math.max(0, length.value - 1);
    } else {
      if (at + 2 > end) return undefined;
      at += 2 + Math.max(0, view.getInt16(at));
    }
  }
  return at + 2 <= end ? view.getInt16(at) : undefined;
}

/** Kafka's UNSIGNED_VARINT at `at` (at most 5 bytes), or undefined when it runs past `end`. */
function unsignedVarint(bytes: Uint8Array, at: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5 && at + i < end; i++) {
    const byte = bytes[at + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, next: at + i + 1 };
  }
  return undefined;
}
