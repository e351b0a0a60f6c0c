/**
 * Serializes HTTP/2 frames (RFC 9113 §4.1, §6). DATA goes out as a 9-byte header written
 * before the caller's payload view, so the body is never copied here; every other frame is
 * small and made whole. A header block larger than the peer's SETTINGS_MAX_FRAME_SIZE is
 * cut into HEADERS and CONTINUATION frames in one array (§6.10: nothing may come between
 * them, so they are written together).
 */
import { FRAME_HEADER_LENGTH, FrameFlag, FrameType } from "./frame.ts";

export function writeFrameHeader(out: Uint8Array, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  writeUint32(out, at + 5, streamId & 0x7fffffff);
}

function writeUint32(out: Uint8Array, at: number, value: number): void {
  out[at] = (value >>> 24) & 0xff;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

function frame(type: number, flags: number, streamId: number, payloadLength: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_LENGTH + payloadLength);
  writeFrameHeader(out, 0, payloadLength, type, flags, streamId);
  return out;
}

/** A DATA frame's header (§6.1); the `length` bytes of payload follow it, unpadded. */
export function encodeDataFrameHeader(streamId: number, length: number, endStream: boolean): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_LENGTH);
  writeFrameHeader(out, 0, length, FrameType.DATA, endStream ? FrameFlag.END_STREAM : 0, streamId);
  return out;
}

/** A whole DATA frame (tests, small bodies). */
export function encodeDataFrame(streamId: number, data: Uint8Array, endStream: boolean): Uint8Array {
  const out = frame(FrameType.DATA, endStream ? FrameFlag.END_STREAM : 0, streamId, data.length);
  out.set(data, FRAME_HEADER_LENGTH);
  return out;
}

/**
 * HEADERS (§6.2) and as many CONTINUATIONs (§6.10) as `block` needs at `maxFrameSize` per
 * frame. END_STREAM goes on the HEADERS frame; END_HEADERS on the last.
 */
export function encodeHeadersFrames(streamId: number, block: Uint8Array, endStream: boolean, maxFrameSize: number): Uint8Array {
  return headerBlockFrames(FrameType.HEADERS, endStream ? FrameFlag.END_STREAM : 0, streamId, new Uint8Array(0), block, maxFrameSize);
}

/** PUSH_PROMISE (§6.6) with its CONTINUATIONs. polyvoy never pushes (it sends SETTINGS_ENABLE_PUSH 0 and refuses pushes); tests use this. */
export function encodePushPromiseFrames(streamId: number, promisedStreamId: number, block: Uint8Array, maxFrameSize: number): Uint8Array {
  const prefix = new Uint8Array(4);
  writeUint32(prefix, 0, promisedStreamId & 0x7fffffff);
  return headerBlockFrames(FrameType.PUSH_PROMISE, 0, streamId, prefix, block, maxFrameSize);
}

function headerBlockFrames(type: number, flags: number, streamId: number, prefix: Uint8Array, block: Uint8Array, maxFrameSize: number): Uint8Array {
  const firstRoom = maxFrameSize - prefix.length;
  const first = Math.min(block.length, firstRoom);
  const rest = block.length - first;
  const continuations = Math.ceil(rest / maxFrameSize);
  const out = new Uint8Array(FRAME_HEADER_LENGTH * (1 + continuations) + prefix.length + block.length);
  writeFrameHeader(out, 0, prefix.length + first, type, flags | (continuations === 0 ? FrameFlag.END_HEADERS : 0), streamId);
  out.set(prefix, FRAME_HEADER_LENGTH);
  out.set(block.subarray(0, first), FRAME_HEADER_LENGTH + prefix.length);
  let at = FRAME_HEADER_LENGTH + prefix.length + first;
  let from = first;
  for (let i = 0; i < continuations; i++) {
    const n = Math.min(maxFrameSize, block.length - from);
    writeFrameHeader(out, at, n, FrameType.CONTINUATION, i === continuations - 1 ? FrameFlag.END_HEADERS : 0, streamId);
    out.set(block.subarray(from, from + n), at + FRAME_HEADER_LENGTH);
    at += FRAME_HEADER_LENGTH + n;
    from += n;
  }
  return out;
}

/** PRIORITY (§6.3): sent by no one here (priority is ignored, as Envoy does); tests use it. */
export function encodePriorityFrame(streamId: number, dependsOn: number, weight: number, exclusive = false): Uint8Array {
  const out = frame(FrameType.PRIORITY, 0, streamId, 5);
  writeUint32(out, FRAME_HEADER_LENGTH, (dependsOn & 0x7fffffff) | (exclusive ? 0x80000000 : 0));
  out[FRAME_HEADER_LENGTH + 4] = weight - 1;
  return out;
}

export function encodeRstStreamFrame(streamId: number, code: number): Uint8Array {
  const out = frame(FrameType.RST_STREAM, 0, streamId, 4);
  writeUint32(out, FRAME_HEADER_LENGTH, code);
  return out;
}

/** SETTINGS (§6.5): `settings` as identifier, value pairs; an ACK has none. */
export function encodeSettingsFrame(settings: readonly number[], ack = false): Uint8Array {
  const pairs = ack ? 0 : settings.length >> 1;
  const out = frame(FrameType.SETTINGS, ack ? FrameFlag.ACK : 0, 0, pairs * 6);
  for (let i = 0; i < pairs; i++) {
    const at = FRAME_HEADER_LENGTH + i * 6;
    out[at] = (settings[2 * i]! >>> 8) & 0xff;
    out[at + 1] = settings[2 * i]! & 0xff;
    writeUint32(out, at + 2, settings[2 * i + 1]!);
  }
  return out;
}

export function encodePingFrame(opaque: Uint8Array, ack: boolean): Uint8Array {
  const out = frame(FrameType.PING, ack ? FrameFlag.ACK : 0, 0, 8);
  out.set(opaque.subarray(0, 8), FRAME_HEADER_LENGTH);
  return out;
}

export function encodeGoAwayFrame(lastStreamId: number, code: number, debugData: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = frame(FrameType.GOAWAY, 0, 0, 8 + debugData.length);
  writeUint32(out, FRAME_HEADER_LENGTH, lastStreamId & 0x7fffffff);
  writeUint32(out, FRAME_HEADER_LENGTH + 4, code);
  out.set(debugData, FRAME_HEADER_LENGTH + 8);
  return out;
}

export function encodeWindowUpdateFrame(streamId: number, increment: number): Uint8Array {
  const out = frame(FrameType.WINDOW_UPDATE, 0, streamId, 4);
  writeUint32(out, FRAME_HEADER_LENGTH, increment & 0x7fffffff);
  return out;
}
