/**
 * Reads HTTP/2 frames from a byte stream cut anywhere (RFC 9113 §4), checks each frame's
 * own shape (§6: lengths, stream 0 or not, padding, flags, settings values) and hands it
 * to a `FrameHandler`. HEADERS (or PUSH_PROMISE) and its CONTINUATIONs are joined into one
 * header block first (§6.10), bounded in bytes and in CONTINUATION count (nghttp2 caps the
 * count at 8 since the CONTINUATION flood, CVE-2024-27316).
 *
 * A frame that arrives whole in one read is handed on as a view of that read; a frame
 * split across reads is gathered in a buffer no larger than SETTINGS_MAX_FRAME_SIZE (ours)
 * plus its header. A length above that limit is a FRAME_SIZE_ERROR (§4.2) before any of
 * its payload is held.
 *
 * Errors are classified per §5.4 and §6; what needs the connection's stream state (idle
 * or closed streams, flow control, the first frame being SETTINGS) is the connection's.
 * After a connection error the parser reads nothing more.
 */
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_LENGTH,
  FrameFlag,
  FrameType,
  Http2ErrorCode,
  Http2ProtocolError,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW_SIZE,
  SettingId,
} from "./frame.ts";

/** What the parser hands on; payload views are valid only during the call. */
export interface FrameHandler {
  /** `flowControlled`: the frame's whole payload length, padding included (§6.9.1 counts it). */
  onData(streamId: number, data: Uint8Array, endStream: boolean, flowControlled: number): void;
  /** A complete header block; `dependsOn` is the PRIORITY flag's stream dependency, or -1. */
  onHeaders(streamId: number, block: Uint8Array, endStream: boolean, dependsOn: number): void;
  onPriority(streamId: number, dependsOn: number): void;
  onRstStream(streamId: number, code: number): void;
  /** `settings`: identifier, value pairs in order (values are already checked, §6.5.2). */
  onSettings(ack: boolean, settings: readonly number[]): void;
  onPushPromise(streamId: number, promisedStreamId: number, block: Uint8Array): void;
  onPing(ack: boolean, opaque: Uint8Array): void;
  onGoAway(lastStreamId: number, code: number, debugData: Uint8Array): void;
  onWindowUpdate(streamId: number, increment: number): void;
  /**
   * A HEADERS or CONTINUATION frame is about to be read (`empty`: a payload of 0 bytes), for
   * the empty-frame count, which Envoy keeps per frame, not per header block.
   */
  onHeaderBlockFrame?(empty: boolean, endStream: boolean): void;
  /** A frame of a type we do not know: ignored (§5.5), reported for the empty-frame count. */
  onUnknownFrame(type: number, streamId: number, length: number): void;
  /** A frame broke the protocol. Stream errors leave the parser going; connection errors stop it. */
  onFrameError(error: Http2ProtocolError): void;
}

export interface FrameParserOptions {
  /** Read and check the client preface first (a server's parser). */
  expectPreface?: boolean;
  /** Our SETTINGS_MAX_FRAME_SIZE (default 16384). */
  maxFrameSize?: number;
  /** The most bytes one header block may take, HEADERS and CONTINUATIONs together. */
  maxHeaderBlockBytes?: number;
  /** The most CONTINUATION frames after one HEADERS (nghttp2's default, 8). */
  maxContinuations?: number;
}

const enum State {
  PREFACE,
  HEADER,
  PAYLOAD,
  FAILED,
}

export class FrameParser {
  private state: State;
  maxFrameSize: number;
  readonly maxHeaderBlockBytes: number;
  readonly maxContinuations: number;

  /** Bytes of the preface or of the current frame header / payload gathered so far. */
  private readonly header = new Uint8Array(FRAME_HEADER_LENGTH);
  private got = 0;
  private payload: Uint8Array | undefined;
  private length = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;

  /** A header block in progress (HEADERS or PUSH_PROMISE without END_HEADERS). */
  private block: Uint8Array | undefined;
  private blockLength = 0;
  private blockStreamId = 0;
  private blockType = 0;
  private blockEndStream = false;
  private blockDependsOn = -1;
  private blockPromised = 0;
  private continuations = 0;

  constructor(
    private readonly handler: FrameHandler,
    options: FrameParserOptions = {},
  ) {
    this.state = options.expectPreface ? State.PREFACE : State.HEADER;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.maxHeaderBlockBytes = options.maxHeaderBlockBytes ?? 256 * 1024;
    this.maxContinuations = options.maxContinuations ?? 8;
  }

  /** Read nothing more (the connection has failed for a reason of its own). */
  stop(): void {
    this.state = State.FAILED;
    this.block = undefined;
    this.payload = undefined;
  }

  get failed(): boolean {
    return this.state === State.FAILED;
  }

  /** Waiting for the CONTINUATION of a header block. */
  get inHeaderBlock(): boolean {
    return this.block !== undefined;
  }

  /** A header block has begun and is not whole yet: a HEADERS frame's payload partly read, or CONTINUATION awaited. */
  get inHeaders(): boolean {
    return this.block !== undefined || (this.state === State.PAYLOAD && this.type === FrameType.HEADERS);
  }

  /** Feed bytes; every complete frame in them is handled before this returns. */
  feed(data: Uint8Array): void {
    let at = 0;
    const end = data.length;
    while (at < end && this.state !== State.FAILED) {
      if (this.state === State.PREFACE) {
        while (at < end && this.got < CLIENT_PREFACE.length) {
          if (data[at] !== CLIENT_PREFACE[this.got]) return this.fail(Http2ProtocolError.connection(Http2ErrorCode.PROTOCOL_ERROR, "bad client preface"));
          at++;
          this.got++;
        }
        if (this.got === CLIENT_PREFACE.length) {
          this.got = 0;
          this.state = State.HEADER;
        }
        continue;
      }
      if (this.state === State.HEADER) {
        // The common case: the whole header, and maybe the whole frame, in this read.
        if (this.got === 0 && end - at >= FRAME_HEADER_LENGTH) {
          this.readHeader(data, at);
          at += FRAME_HEADER_LENGTH;
        } else {
          const n = Math.min(FRAME_HEADER_LENGTH - this.got, end - at);
          this.header.set(data.subarray(at, at + n), this.got);
          this.got += n;
          at += n;
          if (this.got < FRAME_HEADER_LENGTH) return;
          this.got = 0;
          this.readHeader(this.header, 0);
        }
        if (this.state !== State.HEADER) continue;
        if (this.length > this.maxFrameSize) {
          return this.fail(Http2ProtocolError.connection(Http2ErrorCode.FRAME_SIZE_ERROR, `frame of ${this.length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`));
        }
        if (end - at >= this.length) {
          const payload = data.subarray(at, at + this.length);
          at += this.length;
          this.frame(payload);
        } else {
          this.payload = new Uint8Array(this.length);
          this.state = State.PAYLOAD;
        }
        continue;
      }
      // State.PAYLOAD: gathering a frame split across reads.
      const payload = this.payload!;
      const n = Math.min(this.length - this.got, end - at);
      payload.set(data.subarray(at, at + n), this.got);
      this.got += n;
      at += n;
      if (this.got === this.length) {
        this.got = 0;
        this.payload = undefined;
        this.state = State.HEADER;
        this.frame(payload);
      }
    }
  }

  private readHeader(b: Uint8Array, at: number): void {
    this.length = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
    this.type = b[at + 3]!;
    this.flags = b[at + 4]!;
    // The reserved bit is ignored on receipt (§4.1).
    this.streamId = ((b[at + 5]! & 0x7f) << 24) | (b[at + 6]! << 16) | (b[at + 7]! << 8) | b[at + 8]!;
  }

  private fail(error: Http2ProtocolError): void {
    if (error.scope === "connection") {
      this.state = State.FAILED;
      this.block = undefined;
      this.payload = undefined;
    }
    this.handler.onFrameError(error);
  }

  private connectionError(code: Http2ErrorCode, reason: string): void {
    this.fail(Http2ProtocolError.connection(code, reason));
  }

  /** One complete frame. */
  private frame(p: Uint8Array): void {
    const { type, flags, streamId } = this;
    if (this.block !== undefined && type !== FrameType.CONTINUATION) {
      return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    switch (type) {
      case FrameType.DATA: {
        if (streamId === 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
        const body = this.unpad(p, flags);
        if (body === undefined) return;
        this.handler.onData(streamId, body, (flags & FrameFlag.END_STREAM) !== 0, p.length);
        return;
      }
      case FrameType.HEADERS: {
        if (streamId === 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
        this.handler.onHeaderBlockFrame?.(p.length === 0, (flags & FrameFlag.END_STREAM) !== 0);
        if (this.state === State.FAILED) return;
        let body = this.unpad(p, flags);
        if (body === undefined) return;
        let dependsOn = -1;
        if (flags & FrameFlag.PRIORITY) {
          if (body.length < 5) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for its priority");
          dependsOn = readUint31(body, 0);
          body = body.subarray(5);
        }
        return this.startBlock(FrameType.HEADERS, streamId, body, flags, dependsOn, 0);
      }
      case FrameType.PRIORITY:
        if (streamId === 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (p.length !== 5) return this.fail(Http2ProtocolError.stream(streamId, Http2ErrorCode.FRAME_SIZE_ERROR, "PRIORITY length is not 5"));
        this.handler.onPriority(streamId, readUint31(p, 0));
        return;
      case FrameType.RST_STREAM:
        if (streamId === 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
        if (p.length !== 4) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length is not 4");
        this.handler.onRstStream(streamId, readUint32(p, 0));
        return;
      case FrameType.SETTINGS:
        return this.settings(p, flags, streamId);
      case FrameType.PUSH_PROMISE: {
        if (streamId === 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE on stream 0");
        const body = this.unpad(p, flags);
        if (body === undefined) return;
        if (body.length < 4) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "PUSH_PROMISE too short");
        return this.startBlock(FrameType.PUSH_PROMISE, streamId, body.subarray(4), flags, -1, readUint31(body, 0));
      }
      case FrameType.PING:
        if (streamId !== 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        if (p.length !== 8) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "PING length is not 8");
        this.handler.onPing((flags & FrameFlag.ACK) !== 0, p);
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (p.length < 8) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "GOAWAY too short");
        this.handler.onGoAway(readUint31(p, 0), readUint32(p, 4), p.subarray(8));
        return;
      case FrameType.WINDOW_UPDATE: {
        if (p.length !== 4) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length is not 4");
        const increment = readUint31(p, 0);
        if (increment === 0) {
          // §6.9: a stream error on a stream, a connection error on the connection's window.
          const reason = "WINDOW_UPDATE with an increment of 0";
          if (streamId === 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, reason);
          return this.fail(Http2ProtocolError.stream(streamId, Http2ErrorCode.PROTOCOL_ERROR, reason));
        }
        this.handler.onWindowUpdate(streamId, increment);
        return;
      }
      case FrameType.CONTINUATION:
        return this.continuation(p, flags, streamId);
      default:
        this.handler.onUnknownFrame(type, streamId, p.length);
    }
  }

  /** The payload without its padding (§6.1, §6.2, §6.6), or undefined after a padding error. */
  private unpad(p: Uint8Array, flags: number): Uint8Array | undefined {
    if ((flags & FrameFlag.PADDED) === 0) return p;
    if (p.length < 1) {
      this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "padded frame without a pad length");
      return undefined;
    }
    const pad = p[0]!;
    if (pad >= p.length) {
      this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "padding as long as the payload");
      return undefined;
    }
    return p.subarray(1, p.length - pad);
  }

  private settings(p: Uint8Array, flags: number, streamId: number): void {
    if (streamId !== 0) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    const ack = (flags & FrameFlag.ACK) !== 0;
    if (ack) {
      if (p.length !== 0) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      this.handler.onSettings(true, []);
      return;
    }
    if (p.length % 6 !== 0) return this.connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6");
    const settings: number[] = [];
    for (let i = 0; i < p.length; i += 6) {
      const id = (p[i]! << 8) | p[i + 1]!;
      const value = readUint32(p, i + 2);
      switch (id) {
        case SettingId.ENABLE_PUSH:
        case SettingId.ENABLE_CONNECT_PROTOCOL:
          if (value > 1) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, `SETTINGS ${id} must be 0 or 1`);
          break;
        case SettingId.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW_SIZE) return this.connectionError(Http2ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1");
          break;
        case SettingId.MAX_FRAME_SIZE:
          if (value < 16_384 || value > MAX_MAX_FRAME_SIZE) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
          break;
      }
      settings.push(id, value);
    }
    this.handler.onSettings(false, settings);
  }

  private startBlock(type: FrameType, streamId: number, fragment: Uint8Array, flags: number, dependsOn: number, promised: number): void {
    const endStream = type === FrameType.HEADERS && (flags & FrameFlag.END_STREAM) !== 0;
    if (fragment.length > this.maxHeaderBlockBytes) return this.connectionError(Http2ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    if (flags & FrameFlag.END_HEADERS) return this.deliverBlock(type, streamId, fragment, endStream, dependsOn, promised);
    this.block = new Uint8Array(Math.max(fragment.length * 2, 1024));
    this.block.set(fragment);
    this.blockLength = fragment.length;
    this.blockType = type;
    this.blockStreamId = streamId;
    this.blockEndStream = endStream;
    this.blockDependsOn = dependsOn;
    this.blockPromised = promised;
    this.continuations = 0;
  }

  private continuation(p: Uint8Array, flags: number, streamId: number): void {
    if (this.block === undefined) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
    if (streamId !== this.blockStreamId) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "CONTINUATION on another stream");
    this.handler.onHeaderBlockFrame?.(p.length === 0, false);
    if (this.state === State.FAILED) return;
    if (++this.continuations > this.maxContinuations) return this.connectionError(Http2ErrorCode.ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
    const length = this.blockLength + p.length;
    if (length > this.maxHeaderBlockBytes) return this.connectionError(Http2ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    if (length > this.block.length) {
      const bigger = new Uint8Array(Math.min(Math.max(length, this.block.length * 2), this.maxHeaderBlockBytes));
      bigger.set(this.block.subarray(0, this.blockLength));
      this.block = bigger;
    }
    this.block.set(p, this.blockLength);
    this.blockLength = length;
    if ((flags & FrameFlag.END_HEADERS) === 0) return;
    const block = this.block.subarray(0, this.blockLength);
    this.block = undefined;
    this.deliverBlock(this.blockType, this.blockStreamId, block, this.blockEndStream, this.blockDependsOn, this.blockPromised);
  }

  private deliverBlock(type: FrameType, streamId: number, block: Uint8Array, endStream: boolean, dependsOn: number, promised: number): void {
    if (type === FrameType.HEADERS) this.handler.onHeaders(streamId, block, endStream, dependsOn);
    else this.handler.onPushPromise(streamId, promised, block);
  }
}

function readUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** A 31-bit field whose top bit is reserved or a flag (E in PRIORITY), ignored here. */
function readUint31(b: Uint8Array, at: number): number {
  return readUint32(b, at) & 0x7fffffff;
}
