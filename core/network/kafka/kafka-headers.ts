/**
 * The start of a Kafka request and of a response, as far as the broker filter reads them
 * (https://kafka.apache.org/protocol.html#protocol_messages): a request header's
 * request_api_key INT16, request_api_version INT16, correlation_id INT32 and client_id
 * NULLABLE_STRING; a response header's correlation_id INT32. Anything past them (a v2
 * request header's tagged fields, the body) is not read: the frame's size steps over it.
 */

/** The request header bytes read: api key, version, correlation id and client_id's INT16 length. */
export const REQUEST_HEAD_SIZE = 10;
export const RESPONSE_HEAD_SIZE = 4;

export interface KafkaRequestHeader {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
}

/**
 * The header of a request of `size` bytes whose first bytes are `head`, or undefined when
 * it cannot be one: a negative size, a frame shorter than its header, a client_id length
 * below -1 (null). Envoy's NullableStringDeserializer throws on the last
 * (contrib/kafka/filters/network/source/serialization.h), which the filter counts as
 * `request.failure`; on the first two its uint32 remaining size wraps and the decoder
 * loses the frames' boundaries — polyvoy counts them as failures too.
 */
export function requestHeader(size: number, head: Uint8Array): KafkaRequestHeader | undefined {
  if (size < REQUEST_HEAD_SIZE || head.byteLength < REQUEST_HEAD_SIZE) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const clientIdLength = view.getInt16(8);
  if (clientIdLength < -1 || REQUEST_HEAD_SIZE + Math.max(0, clientIdLength) > size) return undefined;
  return { apiKey: view.getInt16(0), apiVersion: view.getInt16(2), correlationId: view.getInt32(4) };
}

/** A response's correlation id, or undefined when the frame is shorter than it (or its size negative). */
export function responseCorrelationId(size: number, head: Uint8Array): number | undefined {
  if (size < RESPONSE_HEAD_SIZE || head.byteLength < RESPONSE_HEAD_SIZE) return undefined;
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getInt32(0);
}
