/**
 * The RFC 6455 key exchange, as Envoy's WebSocket::generateKey and computeAccept
 * (source/common/websocket/handshake.cc): what the proxy needs when it turns an HTTP/2
 * client's WebSocket (RFC 8441 extended CONNECT, which has no key: §5) into an HTTP/1.1
 * upgrade, whose origin requires a `Sec-WebSocket-Key` and answers with its accept.
 */
import type { ResponseHeaders } from "./message.ts";
import { encodeBase64 } from "../util/base64.ts";
import { latin1Encode } from "../util/latin1.ts";
import { sha1 } from "../util/sha1.ts";

/** RFC 6455 §1.3's GUID, appended to the key before hashing. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A fresh key: 16 random bytes, base64 (RFC 6455 §4.1; Envoy draws two 64-bit randoms). */
export function generateWebSocketKey(randomBytes: (into: Uint8Array) => void): string {
  const nonce = new Uint8Array(16);
  randomBytes(nonce);
  return encodeBase64(nonce);
}

/** The `Sec-WebSocket-Accept` an origin owes `key`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2). */
export function computeWebSocketAccept(key: string): string {
  return encodeBase64(sha1(latin1Encode(key + WEBSOCKET_GUID)));
}

/**
 * The origin's 101 shows it read `key` (Envoy's UpstreamCodecFilter::CodecBridge::decodeHeaders):
 * exactly one `Sec-WebSocket-Accept`, equal to what the key owes.
 */
export function acceptsWebSocketKey(headers: ResponseHeaders, key: string): boolean {
  if (headers.status !== 101 || headers.count("sec-websocket-accept") !== 1) return false;
  return headers.get("sec-websocket-accept") === computeWebSocketAccept(key);
}
