/**
 * An HTTP/2 connection, server or client (Envoy's `Http2::ConnectionImpl` with its
 * `ServerConnectionImpl` / `ClientConnectionImpl` roles): the preface and SETTINGS
 * exchange (RFC 9113 §3.4, §6.5), stream states (§5.1), stream and connection flow control
 * (§5.2, §6.9) with Envoy's windows, PING, GOAWAY (§6.8), RST_STREAM, HPACK (RFC 7541), and
 * Envoy's flood protections (protocol-constraints.ts) and rapid-reset defence.
 *
 * It reads bytes through `dispatch` and writes frames to a `ByteSink`; each stream is an
 * `Http2Stream` whose callbacks the connection manager (server) or the router (client)
 * sets. Frame views handed to callbacks are valid only during the call.
 *
 * Sending: a stream's body goes out as its send window and the connection's allow; what
 * does not fit is copied and held, and `onWriteBufferWatermark` tells the user when that
 * crosses `streamWriteBufferLimit`. Receiving: DATA is returned to the peer by
 * WINDOW_UPDATE once handed on (half a window at a time, as nghttp2 does); a read-disabled
 * stream holds what comes and returns nothing, so the peer stops at its window.
 */
import { RecentStreamIds } from "./recent-stream-ids.ts";
import type { ByteSink } from "../network/byte-sink.ts";
import type { Http2CodecStats } from "./codec-stats.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_INITIAL_WINDOW_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  Http2ErrorCode,
  Http2ProtocolError,
  MAX_WINDOW_SIZE,
  SettingId,

} from "./frame.ts";
import { type FrameHandler, FrameParser } from "./frame-parser.ts";
import {
  encodeDataFrameHeader,
  encodeGoAwayFrame,
  encodeHeadersFrames,
  encodePingFrame,
  encodeRstStreamFrame,
  encodeSettingsFrame,
  encodeWindowUpdateFrame,
} from "./frame-writer.ts";
import { contentLengthOf, requestHeadersProblem, responseHeadersProblem, trailersProblem } from "./header-validation.ts";
import { HpackDecoder, type HpackHeaderSink } from "./hpack-decoder.ts";
import { HpackEncoder } from "./hpack-encoder.ts";
import { HpackError } from "./hpack-error.ts";
import { HpackWriter } from "./hpack-primitives.ts";
import { DEFAULT_HTTP2_OPTIONS, type Http2Options } from "./protocol-options.ts";
import { type FloodStat, ProtocolConstraints } from "./protocol-constraints.ts";
import { Http2Stream, type Http2StreamCallbacks, type Http2StreamOwner, StreamState } from "./stream.ts";

/** Why the connection is over. */
export interface Http2ConnectionError {
  /** The GOAWAY code sent (or that would have been, for a flood that stops all writing). */
  code: number;
  reason: string;
  /** A GOAWAY was written: flush, then close. Else close at once (an outbound flood, too many premature resets). */
  goAwaySent: boolean;
}

/** What the connection tells its owner (the HCM downstream, the connection pool upstream). */
export interface Http2ConnectionCallbacks {
  /** Server: the peer opened a stream. Set `stream.callbacks` here: its head follows at once. */
  onNewStream?(stream: Http2Stream): void;
  /** The peer sent GOAWAY: no new streams; streams above `lastStreamId` were already reset as REFUSED_STREAM. */
  onGoAway?(lastStreamId: number, code: number): void;
  /** The connection failed; every stream has been reset. */
  onConnectionError(error: Http2ConnectionError): void;
  onPingAck?(opaque: Uint8Array): void;
  /** Client: a stream closed or the peer's stream limit changed (the pool may start queued requests). */
  onStreamCapacity?(): void;
  /** After a GOAWAY (either way) the last stream closed: the connection may be closed. */
  onDrained?(): void;
}

export type Http2Role = "server" | "client";

/** Envoy's premature-reset check (conn_manager_impl.cc, CVE-2023-44487): runtime keys overload.premature_reset_*. */
export const PREMATURE_RESET_TOTAL_STREAM_COUNT = 500;
export const PREMATURE_RESET_MIN_STREAM_LIFETIME_MS = 1000;

/** Reset streams remembered to ignore the peer's frames in flight on them (resetPeerStreams). */
const RESET_STREAMS_KEPT = 1024;

export class Http2ConnectionImpl implements FrameHandler, HpackHeaderSink, Http2StreamOwner {
  readonly options: Http2Options;
  private readonly parser: FrameParser;
  private readonly decoder: HpackDecoder;
  private readonly encoder: HpackEncoder;
  private readonly writer = new HpackWriter(512);
  private readonly constraints: ProtocolConstraints;
  readonly streams = new Map<number, Http2Stream>();

  /** The peer's settings as they apply to what we send. */
  peerInitialWindowSize = DEFAULT_INITIAL_WINDOW_SIZE;
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  peerMaxConcurrentStreams = 2 ** 31 - 1;
  peerEnableConnectProtocol = false;

  private connSendWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  private connRecvWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  private connRecvConsumed = 0;
  /** Streams with body held for want of connection window, oldest first. */
  private readonly blocked: Http2Stream[] = [];

  private gotPeerSettings = false;
  private ourSettingsAcked = false;
  /** Highest stream id the peer opened; highest we opened (client) or will open next. */
  private lastPeerStreamId = 0;
  private nextLocalStreamId: number;
  private localStreams = 0;
  private peerStreams = 0;
  goAwaySent = false;
  goAwayReceived = false;
  private goAwayLastStreamId = 2 ** 31 - 1;
  closed = false;

  /** The header block being decoded. */
  private fields: string[] = [];
  /**
   * The peer's streams reset (by either side) most recently, oldest first: frames the peer
   * sent before the reset reached it are ignored on them (RFC 9113 §5.1), where HEADERS on
   * any other closed stream is a connection error (headersForNoStream).
   */
  private readonly resetPeerStreams = new RecentStreamIds(RESET_STREAMS_KEPT);
  /** Rapid reset: streams closed, and of them reset by the peer soon after they began. */
  private closedStreams = 0;
  private prematureResets = 0;

  constructor(
    readonly role: Http2Role,
    private readonly sink: ByteSink,
    private readonly callbacks: Http2ConnectionCallbacks,
    readonly stats: Http2CodecStats,
    options: Partial<Http2Options> = {},
    private readonly now: () => number = () => 0,
  ) {
    this.options = { ...DEFAULT_HTTP2_OPTIONS, ...options };
    this.nextLocalStreamId = role === "client" ? 1 : 2;
    this.parser = new FrameParser(this, { expectPreface: role === "server", maxHeaderBlockBytes: Math.max(64 * 1024, 2 * this.options.maxHeadersKb * 1024) });
    // The peer's encoder may use the default 4096 until it has our SETTINGS: ours applies once ACKed.
    this.decoder = new HpackDecoder({
      maxTableSize: 4096,
      maxHeaderListBytes: this.options.maxHeadersKb * 1024,
      maxHeaderCount: this.options.maxHeadersCount,
      maxDecodedBytes: Math.max(4 * this.options.maxHeadersKb * 1024, 256 * 1024),
    });
    this.encoder = new HpackEncoder(this.options.hpackTableSize);
    this.constraints = new ProtocolConstraints(this.options, stats);
  }

  // ------------------------------------------------------------------ the owner's side

  /** Write our preface: the client's magic (client), SETTINGS, and the connection window's raise. */
  start(): void {
    if (this.role === "client") this.sink.write(CLIENT_PREFACE, false);
    const settings: number[] = [];
    if (this.options.hpackTableSize !== 4096) settings.push(SettingId.HEADER_TABLE_SIZE, this.options.hpackTableSize);
    if (this.role === "client") settings.push(SettingId.ENABLE_PUSH, 0);
    settings.push(SettingId.MAX_CONCURRENT_STREAMS, this.options.maxConcurrentStreams);
    settings.push(SettingId.INITIAL_WINDOW_SIZE, this.options.initialStreamWindowSize);
    // allow_connect: both roles advertise it, as Envoy's codec does (codec_impl.cc); a server
    // reading it accepts :protocol (RFC 8441 §3), a client's is informational.
    if (this.options.allowConnect) settings.push(SettingId.ENABLE_CONNECT_PROTOCOL, 1);
    this.writeFrame(encodeSettingsFrame(settings), true);
    const raise = this.options.initialConnectionWindowSize - DEFAULT_INITIAL_WINDOW_SIZE;
    if (raise > 0) {
      this.connRecvWindow += raise;
      this.writeFrame(encodeWindowUpdateFrame(0, raise), false);
    }
  }

  /** Bytes from the peer. */
  dispatch(data: Uint8Array): void {
    if (this.closed) return;
    this.parser.feed(data);
  }

  /** The sink has written out everything it held (the socket drained): the outbound frame counts restart. */
  onWriteDrained(): void {
    this.constraints.drained();
  }

  /** Client: a new stream; its id is given when its head is sent. Undefined when no stream may be opened. */
  newStream(callbacks: Http2StreamCallbacks): Http2Stream | undefined {
    if (this.role !== "client" || this.closed || this.goAwayReceived || this.goAwaySent) return undefined;
    const stream = new Http2Stream(0, this, this.peerInitialWindowSize, this.options.initialStreamWindowSize, this.now());
    stream.callbacks = callbacks;
    return stream;
  }

  /** Client: another stream may be opened now (the peer's SETTINGS_MAX_CONCURRENT_STREAMS and our max_concurrent_streams, GOAWAY, ids left). */
  get canOpenStream(): boolean {
    const limit = Math.min(this.peerMaxConcurrentStreams, this.options.maxConcurrentStreams);
    return !this.closed && !this.goAwayReceived && !this.goAwaySent && this.localStreams < limit && this.nextLocalStreamId <= MAX_WINDOW_SIZE;
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** The peer began a header block it has not finished (nothing else may come from it until it does, RFC 9113 §6.10). */
  get receivingHeaders(): boolean {
    return this.parser.inHeaders;
  }

  /**
   * Graceful drain, first step (Envoy's shutdownNotice, nghttp2_submit_shutdown_notice): GOAWAY
   * with the largest stream id, so the peer stops opening streams while those in flight finish.
   */
  shutdownNotice(): void {
    if (this.closed || this.goAwaySent) return;
    this.writeFrame(encodeGoAwayFrame(MAX_WINDOW_SIZE, Http2ErrorCode.NO_ERROR), false);
    this.stats.goaway_graceful_sent.inc();
  }

  /** GOAWAY NO_ERROR naming the last stream we will process (Envoy's goAway); open streams finish, then onDrained. */
  goAway(): void {
    if (this.closed || this.goAwaySent) return;
    this.goAwaySent = true;
    this.goAwayLastStreamId = this.lastPeerStreamId;
    this.writeFrame(encodeGoAwayFrame(this.lastPeerStreamId, Http2ErrorCode.NO_ERROR), false);
    this.stats.goaway_sent.inc();
    if (this.streams.size === 0) this.callbacks.onDrained?.();
  }

  ping(opaque: Uint8Array): void {
    if (!this.closed) this.writeFrame(encodePingFrame(opaque, false), true);
  }

  /** Stop everything (the socket closed): every stream is reset as by the peer. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.stop();
    this.resetAll(Http2ErrorCode.CANCEL, true);
    this.constraints.release();
  }

  // ------------------------------------------------------------------ writing

  private writeFrame(frame: Uint8Array, control: boolean): boolean {
    if (this.closed) return false;
    const flood = this.constraints.outbound(control);
    if (flood !== undefined) {
      this.flood(flood, control ? "too many control frames in the outbound queue" : "too many frames in the outbound queue");
      return false;
    }
    this.sink.write(frame, false);
    return true;
  }

  private encodeBlock(fields: readonly string[]): Uint8Array {
    const w = this.writer;
    w.reset();
    this.encoder.beginBlock(w);
    for (let i = 0; i < fields.length; i += 2) this.encoder.encodeField(w, fields[i]!, fields[i + 1]!);
    return w.bytes();
  }

  /** Called by Http2Stream.sendHeaders. */
  sendHeaders(stream: Http2Stream, fields: readonly string[], endStream: boolean): void {
    if (this.closed || stream.wasReset || stream.localEnded) return;
    if (stream.id === 0) {
      // Client: the id now, so ids go out in increasing order (§5.1.1).
      if (!this.canOpenStream) {
        stream.wasReset = true;
        stream.callbacks.onReset(Http2ErrorCode.REFUSED_STREAM, false);
        return;
      }
      stream.id = this.nextLocalStreamId;
      this.nextLocalStreamId += 2;
      const method = methodOf(fields);
      stream.headRequest = method === "HEAD";
      stream.connectRequest = method === "CONNECT";
      this.localStreams++;
      this.streams.set(stream.id, stream);
      this.stats.streams_active.inc();
      stream.state = StreamState.OPEN;
    }
    const interim = this.role === "server" && isInformational(fields);
    if (!interim) {
      if (!stream.headersSent) this.constraints.openedStreams++;
      stream.headersSent = true;
    }
    const frames = encodeHeadersFrames(stream.id, this.encodeBlock(fields), endStream, this.peerMaxFrameSize);
    if (!this.writeFrame(frames, false)) return;
    if (endStream) this.endLocal(stream);
  }

  /** Called by Http2Stream.sendData. */
  sendData(stream: Http2Stream, data: Uint8Array, endStream: boolean): void {
    if (this.closed || stream.wasReset || stream.localEnded || stream.pendingEnd || !stream.headersSent) return;
    let from = 0;
    if (stream.pending.length === 0) {
      from = this.sendNow(stream, data, endStream);
      if (from === -1) return;
    }
    // What the windows would not take waits, copied: the caller's bytes are lent.
    if (from < data.length) {
      stream.pending.push(data.slice(from));
      stream.pendingBytes += data.length - from;
      this.stats.pending_send_bytes.inc(data.length - from);
    }
    if (endStream) stream.pendingEnd = true;
    this.block(stream);
    this.checkWatermark(stream);
  }

  /**
   * Send what the windows allow of `data` now; returns how many bytes went, or -1 when the
   * whole chunk, END_STREAM included, has gone.
   */
  private sendNow(stream: Http2Stream, data: Uint8Array, endStream: boolean): number {
    let from = 0;
    while (from < data.length) {
      const n = Math.min(data.length - from, stream.sendWindow, this.connSendWindow, this.peerMaxFrameSize);
      if (n <= 0) return from;
      const last = from + n === data.length;
      if (!this.writeData(stream, data.subarray(from, from + n), last && endStream)) return -1;
      from += n;
    }
    if (data.length === 0) {
      if (!endStream) return -1;
      if (!this.writeData(stream, data, true)) return -1;
    }
    if (endStream) this.endLocal(stream);
    return -1;
  }

  private writeData(stream: Http2Stream, chunk: Uint8Array, endStream: boolean): boolean {
    const flood = this.constraints.outbound(false);
    if (flood !== undefined) {
      this.flood(flood, "too many frames in the outbound queue");
      return false;
    }
    stream.sendWindow -= chunk.length;
    this.connSendWindow -= chunk.length;
    this.constraints.outboundDataFrames++;
    this.sink.write(encodeDataFrameHeader(stream.id, chunk.length, endStream), false);
    if (chunk.length > 0) this.sink.write(chunk, false);
    return true;
  }

  /** Called by Http2Stream.sendTrailers: after the held body, if any. */
  sendTrailers(stream: Http2Stream, fields: readonly string[]): void {
    if (this.closed || stream.wasReset || stream.localEnded || stream.pendingEnd) return;
    if (stream.pending.length > 0) {
      stream.pendingTrailers = fields.slice();
      stream.pendingEnd = true;
      return;
    }
    this.sendHeaders(stream, fields, true);
  }

  /** Called by Http2Stream.reset. */
  resetStream(stream: Http2Stream, code: number): void {
    if (this.closed || stream.wasReset) return;
    if (stream.state === StreamState.CLOSED) {
      // Ended both ways, but body held for a read-disabled reader (the router's slow client)
      // is abandoned unread: its share of the connection window comes back, or each such
      // stream would shrink the window for every stream after it (Envoy's codec_impl.cc
      // onStreamClose: MarkDataConsumedForStream of the unconsumed bytes).
      const held = stream.dropHeld();
      if (held > 0) this.returnConnectionWindow(held);
      return;
    }
    if (stream.id !== 0) {
      this.writeFrame(encodeRstStreamFrame(stream.id, code), true);
      this.stats.tx_reset.inc();
    }
    this.finishReset(stream, code, false);
  }

  private block(stream: Http2Stream): void {
    if (stream.queued) return;
    stream.queued = true;
    this.blocked.push(stream);
  }

  /** Send what a stream holds, as far as the windows allow; then its END_STREAM or trailers. */
  private flushStream(stream: Http2Stream): void {
    while (stream.pending.length > 0 && !this.closed && !stream.wasReset) {
      const chunk = stream.pending[0]!;
      const n = Math.min(chunk.length, stream.sendWindow, this.connSendWindow, this.peerMaxFrameSize);
      if (n <= 0) break;
      const end = n === chunk.length && stream.pending.length === 1 && stream.pendingEnd && stream.pendingTrailers === undefined;
      if (!this.writeData(stream, chunk.subarray(0, n), end)) return;
      stream.pendingBytes -= n;
      this.stats.pending_send_bytes.dec(n);
      if (n === chunk.length) stream.pending.shift();
      else stream.pending[0] = chunk.subarray(n);
      if (end) {
        stream.pendingEnd = false;
        this.endLocal(stream);
      }
    }
    if (this.closed || stream.wasReset) return;
    if (stream.pending.length === 0 && stream.pendingEnd) {
      stream.pendingEnd = false;
      const trailers = stream.pendingTrailers;
      stream.pendingTrailers = undefined;
      if (trailers !== undefined) {
        this.sendHeaders(stream, trailers, true);
      } else {
        if (!this.writeData(stream, new Uint8Array(0), true)) return;
        this.endLocal(stream);
      }
    }
    this.checkWatermark(stream);
  }

  private flushBlocked(): void {
    // A snapshot: a stream that ends or is reset while flushing leaves the list (remove).
    for (const stream of [...this.blocked]) {
      if (this.connSendWindow <= 0 || this.closed) return;
      if (!stream.queued) continue;
      this.flushStream(stream);
      if (stream.queued && (stream.pending.length === 0 || stream.wasReset)) this.unblock(stream);
    }
  }

  private unblock(stream: Http2Stream): void {
    stream.queued = false;
    this.blocked.splice(this.blocked.indexOf(stream), 1);
  }

  private checkWatermark(stream: Http2Stream): void {
    const limit = this.options.streamWriteBufferLimit;
    if (!stream.aboveWatermark && stream.pendingBytes > limit) {
      stream.aboveWatermark = true;
      stream.callbacks.onWriteBufferWatermark?.(true);
    } else if (stream.aboveWatermark && stream.pendingBytes <= limit / 2) {
      stream.aboveWatermark = false;
      stream.callbacks.onWriteBufferWatermark?.(false);
    }
  }

  /** Called by Http2Stream when it hands body on: WINDOW_UPDATE once half a window is consumed. */
  consumed(stream: Http2Stream, n: number): void {
    if (this.closed) return;
    this.returnConnectionWindow(n);
    if (stream.remoteEnded || stream.wasReset) return;
    stream.recvConsumed += n;
    if (stream.recvConsumed >= this.options.initialStreamWindowSize / 2) {
      stream.recvWindow += stream.recvConsumed;
      this.writeFrame(encodeWindowUpdateFrame(stream.id, stream.recvConsumed), false);
      stream.recvConsumed = 0;
    }
  }

  private returnConnectionWindow(n: number): void {
    this.connRecvConsumed += n;
    if (this.connRecvConsumed >= this.options.initialConnectionWindowSize / 2) {
      this.connRecvWindow += this.connRecvConsumed;
      this.writeFrame(encodeWindowUpdateFrame(0, this.connRecvConsumed), false);
      this.connRecvConsumed = 0;
    }
  }

  // ------------------------------------------------------------------ stream ends

  private endLocal(stream: Http2Stream): void {
    if (stream.state === StreamState.OPEN) {
      stream.state = StreamState.HALF_CLOSED_LOCAL;
      stream.callbacks.onLocalEnd?.();
    } else if (stream.state === StreamState.HALF_CLOSED_REMOTE) this.close(stream);
  }

  private endRemote(stream: Http2Stream): void {
    if (stream.state === StreamState.OPEN) stream.state = StreamState.HALF_CLOSED_REMOTE;
    else if (stream.state === StreamState.HALF_CLOSED_LOCAL) this.close(stream);
  }

  private close(stream: Http2Stream): void {
    stream.state = StreamState.CLOSED;
    this.remove(stream);
    stream.callbacks.onClose?.();
  }

  private remove(stream: Http2Stream): void {
    if (!this.streams.delete(stream.id)) return;
    this.stats.streams_active.dec();
    this.stats.pending_send_bytes.dec(stream.pendingBytes);
    stream.pendingBytes = 0;
    stream.pending.length = 0;
    // Out of the blocked list now: a peer that never opens the connection window would
    // otherwise keep every stream it reset there.
    if (stream.queued) this.unblock(stream);
    if (this.isPeerStream(stream.id)) this.peerStreams--;
    else this.localStreams--;
    this.closedStreams++;
    if (this.role === "client") this.callbacks.onStreamCapacity?.();
    if ((this.goAwaySent || this.goAwayReceived) && this.streams.size === 0) this.callbacks.onDrained?.();
  }

  private finishReset(stream: Http2Stream, code: number, remote: boolean): void {
    this.noteReset(stream.id);
    stream.wasReset = true;
    stream.state = StreamState.CLOSED;
    this.remove(stream);
    // Body held for a read-disabled stream will never be consumed: its share of the connection window comes back.
    const held = stream.dropHeld();
    if (held > 0 && !this.closed) this.returnConnectionWindow(held);
    stream.callbacks.onReset(code, remote);
  }

  private noteReset(id: number): void {
    if (!this.isPeerStream(id)) return;
    this.resetPeerStreams.add(id);
  }

  private resetAll(code: number, remote: boolean): void {
    for (const stream of [...this.streams.values()]) this.finishReset(stream, code, remote);
  }

  private isPeerStream(id: number): boolean {
    return (id & 1) === (this.role === "server" ? 1 : 0);
  }

  // ------------------------------------------------------------------ errors

  private connectionError(code: number, reason: string): void {
    if (this.closed) return;
    this.writeFrame(encodeGoAwayFrame(this.lastPeerStreamId, code, asciiBytes(reason)), false);
    this.stats.goaway_sent.inc();
    this.fail({ code, reason, goAwaySent: true });
  }

  private fail(error: Http2ConnectionError): void {
    this.closed = true;
    this.parser.stop();
    this.resetAll(error.code === Http2ErrorCode.NO_ERROR ? Http2ErrorCode.CANCEL : error.code, false);
    this.constraints.release();
    this.callbacks.onConnectionError(error);
  }

  private flood(stat: FloodStat, reason: string): void {
    this.stats[stat].inc();
    if (stat === "outbound_flood" || stat === "outbound_control_flood") {
      // The queue is what overflowed: nothing more is written, not even GOAWAY.
      this.fail({ code: Http2ErrorCode.ENHANCE_YOUR_CALM, reason, goAwaySent: false });
      return;
    }
    this.connectionError(Http2ErrorCode.ENHANCE_YOUR_CALM, reason);
  }

  private streamError(streamId: number, code: number, reason: string): void {
    if (this.closed) return;
    void reason;
    this.writeFrame(encodeRstStreamFrame(streamId, code), true);
    this.stats.tx_reset.inc();
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.finishReset(stream, code, false);
    else this.noteReset(streamId); // refused, or never made: its trailers in flight are ignored
  }

  /** A malformed message (§8.1.1): the stream, or — Envoy's default — the connection. */
  private messagingError(streamId: number, reason: string): void {
    this.stats.rx_messaging_error.inc();
    if (this.options.streamErrorOnInvalidHttpMessage) this.streamError(streamId, Http2ErrorCode.PROTOCOL_ERROR, reason);
    else this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, reason);
  }

  onFrameError(error: Http2ProtocolError): void {
    if (error.scope === "connection") this.connectionError(error.code, error.reason);
    else this.streamError(error.streamId, error.code, error.reason);
  }

  /** §3.4: the peer's preface ends with SETTINGS; any other frame first is a PROTOCOL_ERROR. */
  private settingsFirst(): boolean {
    if (this.gotPeerSettings) return true;
    this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "the first frame is not SETTINGS");
    return false;
  }

  /** A stream id the peer has not opened yet (or, client, one we have not). */
  private isIdle(id: number): boolean {
    return this.isPeerStream(id) ? id > this.lastPeerStreamId : id >= this.nextLocalStreamId;
  }

  // ------------------------------------------------------------------ frames in (FrameHandler)

  onHeader(name: string, value: string): void {
    this.fields.push(name, value);
  }

  onHeaders(streamId: number, block: Uint8Array, endStream: boolean, dependsOn: number): void {
    if (!this.settingsFirst()) return;
    // Decode first, whatever becomes of the stream: the HPACK table must stay in step (§4.3).
    this.fields = [];
    let overflow: boolean;
    try {
      overflow = this.decoder.decode(block, this) === "overflow";
    } catch (e) {
      if (!(e instanceof HpackError)) throw e;
      return this.connectionError(Http2ErrorCode.COMPRESSION_ERROR, e.message);
    }
    const fields = this.fields;
    this.fields = [];
    if (dependsOn === streamId) return this.streamError(streamId, Http2ErrorCode.PROTOCOL_ERROR, "stream depends on itself");

    const stream = this.streams.get(streamId);
    if (stream === undefined) return this.headersForNoStream(streamId, fields, endStream, overflow);
    // Half-closed (remote): RFC 9113 §5.1 asks a stream error; nghttp2 "goes further" and ends
    // the connection (nghttp2_session_on_headers_received, "HEADERS: stream closed").
    if (stream.remoteEnded) return this.connectionError(Http2ErrorCode.STREAM_CLOSED, "HEADERS: stream closed");
    if (overflow) {
      this.stats.header_overflow.inc();
      return this.streamError(streamId, Http2ErrorCode.INTERNAL_ERROR, "headers too large");
    }
    if (this.role === "client" && !stream.headersReceived) return this.responseHeaders(stream, fields, endStream);
    // A second head is the trailers (§8.1): it must end the stream.
    if (!endStream) return this.messagingError(streamId, "second HEADERS without END_STREAM");
    const problem = trailersProblem(fields);
    if (problem !== undefined) return this.messagingError(streamId, problem);
    if (stream.remainingContentLength > 0) return this.messagingError(streamId, "body shorter than content-length");
    this.stats.trailers.inc();
    this.endRemote(stream);
    stream.deliverTrailers(fields);
  }

  private headersForNoStream(streamId: number, fields: string[], endStream: boolean, overflow: boolean): void {
    if (this.role === "client" || !this.isPeerStream(streamId)) {
      if (!this.isPeerStream(streamId) && this.isIdle(streamId)) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "HEADERS on a stream not opened");
      if (this.isPeerStream(streamId)) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "server-initiated stream");
      return; // A stream of ours already closed (we reset it): frames in flight are ignored.
    }
    // Past our GOAWAY's last stream: ignored (§6.8), and no longer idle, so the body and
    // trailers that follow are ignored too rather than a connection error (nghttp2 does the same).
    if (this.goAwaySent && streamId > this.goAwayLastStreamId) {
      this.lastPeerStreamId = Math.max(this.lastPeerStreamId, streamId);
      return;
    }
    // A lower id than one the peer already opened, with no stream: closed, or never used. As
    // oghttp2, Envoy's default codec (OgHttp2Session::OnHeaders: "A new stream ID lower than the
    // watermark is a connection error"), a connection error PROTOCOL_ERROR (RFC 9113 §5.1.1;
    // h2spec asks STREAM_CLOSED for a stream closed by END_STREAM both ways, within the RFC
    // too). Except on a stream reset lately: trailers the peer sent before the reset reached it
    // are ignored (§5.1), as nghttp2 ignores every such block. The block was decoded above, so
    // HPACK stays in step.
    if (streamId <= this.lastPeerStreamId) {
      if (this.resetPeerStreams.has(streamId)) return;
      return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "HEADERS on a closed stream");
    }
    this.lastPeerStreamId = streamId;
    if (this.peerStreams >= this.options.maxConcurrentStreams) {
      return this.streamError(streamId, Http2ErrorCode.REFUSED_STREAM, "too many concurrent streams");
    }
    if (overflow) {
      this.stats.header_overflow.inc();
      return this.streamError(streamId, Http2ErrorCode.INTERNAL_ERROR, "headers too large");
    }
    const problem = requestHeadersProblem(fields, this.options.allowConnect);
    if (problem !== undefined) return this.messagingError(streamId, problem);
    const contentLength = contentLengthOf(fields);
    if (contentLength === -2) return this.messagingError(streamId, "invalid content-length");
    if (endStream && contentLength > 0) return this.messagingError(streamId, "END_STREAM with a content-length above 0");

    const stream = new Http2Stream(streamId, this, this.peerInitialWindowSize, this.options.initialStreamWindowSize, this.now());
    stream.state = endStream ? StreamState.HALF_CLOSED_REMOTE : StreamState.OPEN;
    stream.headersReceived = true;
    stream.remainingContentLength = contentLength;
    this.streams.set(streamId, stream);
    this.peerStreams++;
    this.stats.streams_active.inc();
    this.callbacks.onNewStream?.(stream);
    if (!stream.wasReset && !this.closed) stream.callbacks.onHeaders(fields, endStream);
  }

  private responseHeaders(stream: Http2Stream, fields: string[], endStream: boolean): void {
    const problem = responseHeadersProblem(fields);
    if (problem !== undefined) return this.messagingError(stream.id, problem);
    if (isInformational(fields)) {
      if (endStream) return this.messagingError(stream.id, "1xx response with END_STREAM");
      stream.callbacks.onHeaders(fields, false);
      return;
    }
    const contentLength = contentLengthOf(fields);
    if (contentLength === -2) return this.messagingError(stream.id, "invalid content-length");
    stream.headersReceived = true;
    // A response to HEAD, a 204 or a 304 has no body: its content-length describes another
    // response's (RFC 9110 §8.6, §15.4.5), and at most an empty DATA frame may end the stream
    // (nghttp2_http_on_response_headers: content_length = 0 unless expect_response_body).
    // A 2xx to CONNECT opens a tunnel: its content-length is ignored (RFC 9110 §8.6, §9.3.6;
    // nghttp2_http_on_response_headers sets content_length = -1 for a CONNECT's 2xx).
    const status = fields[1]!;
    if (stream.connectRequest && status.startsWith("2")) stream.remainingContentLength = -1;
    else stream.remainingContentLength = stream.headRequest || status === "204" || status === "304" ? 0 : contentLength;
    if (endStream) this.endRemote(stream);
    stream.callbacks.onHeaders(fields, endStream);
  }

  onData(streamId: number, data: Uint8Array, endStream: boolean, flowControlled: number): void {
    if (!this.settingsFirst()) return;
    // Empty is without the padding, as Envoy counts it (codec_impl.cc trackInboundFrames:
    // length - padding_length == 0): padding alone must not evade the empty-frame limit.
    const flood = this.constraints.inboundFrame(data.length === 0, endStream);
    if (flood !== undefined) return this.flood(flood, "too many consecutive frames with an empty payload");
    if (flowControlled > this.connRecvWindow) return this.connectionError(Http2ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    this.connRecvWindow -= flowControlled;
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) return this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      // A closed stream: its bytes still count against the connection (§6.9), and come back.
      this.returnConnectionWindow(flowControlled);
      return;
    }
    // As HEADERS above: a connection error in nghttp2 (session_on_data_received_fail_fast).
    if (stream.remoteEnded) return this.connectionError(Http2ErrorCode.STREAM_CLOSED, "DATA: stream in half-closed(remote)");
    if (!stream.headersReceived) {
      this.returnConnectionWindow(flowControlled);
      return this.messagingError(streamId, "DATA before HEADERS");
    }
    if (flowControlled > stream.recvWindow) {
      this.returnConnectionWindow(flowControlled);
      return this.streamError(streamId, Http2ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the stream window");
    }
    stream.recvWindow -= flowControlled;
    // Padding is consumed at once; the body when it is handed on.
    if (flowControlled > data.length) this.returnConnectionWindow(flowControlled - data.length);
    if (stream.remainingContentLength >= 0) {
      stream.remainingContentLength -= data.length;
      if (stream.remainingContentLength < 0 || (endStream && stream.remainingContentLength !== 0)) {
        return this.messagingError(streamId, "body length differs from content-length");
      }
    }
    if (endStream) this.endRemote(stream);
    stream.deliverData(data, endStream);
  }

  onHeaderBlockFrame(empty: boolean, endStream: boolean): void {
    // Each HEADERS and CONTINUATION frame counts, as Envoy tracks them (codec_impl.cc
    // onBeforeFrameReceived → trackInboundFrames): empty CONTINUATIONs are empty frames.
    const flood = this.constraints.inboundFrame(empty, endStream);
    if (flood !== undefined) this.flood(flood, "too many consecutive frames with an empty payload");
  }

  onPriority(streamId: number, dependsOn: number): void {
    if (!this.settingsFirst()) return;
    const flood = this.constraints.inboundPriority();
    if (flood !== undefined) return this.flood(flood, "too many PRIORITY frames");
    // Priority is otherwise ignored, as Envoy does (RFC 9113 §5.3.2 deprecates it).
    if (dependsOn === streamId) this.streamError(streamId, Http2ErrorCode.PROTOCOL_ERROR, "stream depends on itself");
  }

  onRstStream(streamId: number, code: number): void {
    if (!this.settingsFirst()) return;
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
      return;
    }
    this.stats.rx_reset.inc();
    const premature = this.role === "server" && !stream.localEnded && this.now() - stream.startedAt < PREMATURE_RESET_MIN_STREAM_LIFETIME_MS;
    this.finishReset(stream, code, true);
    if (premature) {
      this.prematureResets++;
      this.checkPrematureResets();
    }
  }

  /** Envoy's maybeDrainDueToPrematureResets: too many streams reset by the peer soon after they began. */
  private checkPrematureResets(): void {
    const limit = PREMATURE_RESET_TOTAL_STREAM_COUNT;
    if (this.closedStreams < limit ? this.prematureResets * 2 < limit : this.prematureResets * 2 < this.closedStreams) return;
    this.fail({ code: Http2ErrorCode.ENHANCE_YOUR_CALM, reason: "too_many_premature_resets", goAwaySent: false });
  }

  onSettings(ack: boolean, settings: readonly number[]): void {
    if (ack) {
      if (!this.settingsFirst()) return;
      if (!this.ourSettingsAcked) {
        this.ourSettingsAcked = true;
        // Lowered, the peer's next block must start with a table size update (RFC 7541 §4.2).
        if (this.options.hpackTableSize !== 4096) this.decoder.setMaxTableSizeLimit(this.options.hpackTableSize);
      }
      return;
    }
    this.gotPeerSettings = true;
    for (let i = 0; i < settings.length; i += 2) {
      const id = settings[i]!;
      const value = settings[i + 1]!;
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          this.encoder.setPeerTableSize(value);
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = value;
          break;
        case SettingId.INITIAL_WINDOW_SIZE: {
          // §6.9.2: every stream's send window moves by the difference, and may go negative.
          const delta = value - this.peerInitialWindowSize;
          this.peerInitialWindowSize = value;
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW_SIZE) return this.connectionError(Http2ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window");
          }
          break;
        }
        case SettingId.MAX_FRAME_SIZE:
          this.peerMaxFrameSize = value;
          break;
        case SettingId.ENABLE_CONNECT_PROTOCOL:
          this.peerEnableConnectProtocol = value === 1;
          break;
      }
    }
    if (!this.writeFrame(encodeSettingsFrame([], true), true)) return;
    for (const stream of [...this.streams.values()]) if (stream.pending.length > 0 || stream.pendingEnd) this.flushStream(stream);
    if (this.role === "client") this.callbacks.onStreamCapacity?.();
  }

  onPushPromise(): void {
    // We never enable push (SETTINGS_ENABLE_PUSH 0 as a client; a client cannot push): §8.4.
    if (!this.settingsFirst()) return;
    this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE while push is disabled");
  }

  onPing(ack: boolean, opaque: Uint8Array): void {
    if (!this.settingsFirst()) return;
    if (ack) this.callbacks.onPingAck?.(opaque);
    else this.writeFrame(encodePingFrame(opaque, true), true);
  }

  onGoAway(lastStreamId: number, code: number): void {
    if (!this.settingsFirst()) return;
    this.goAwayReceived = true;
    // Our streams above its last id were never processed: refused, so safe to retry (§6.8).
    for (const stream of [...this.streams.values()]) {
      if (!this.isPeerStream(stream.id) && stream.id > lastStreamId) {
        this.stats.stream_refused_errors.inc();
        this.finishReset(stream, Http2ErrorCode.REFUSED_STREAM, true);
      }
    }
    this.callbacks.onGoAway?.(lastStreamId, code);
    if (this.streams.size === 0 && !this.closed) this.callbacks.onDrained?.();
  }

  onWindowUpdate(streamId: number, increment: number): void {
    if (!this.settingsFirst()) return;
    const flood = this.constraints.inboundWindowUpdate();
    if (flood !== undefined) return this.flood(flood, "too many WINDOW_UPDATE frames");
    if (streamId === 0) {
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW_SIZE) return this.connectionError(Http2ErrorCode.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      this.flushBlocked();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) this.connectionError(Http2ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_SIZE) return this.streamError(streamId, Http2ErrorCode.FLOW_CONTROL_ERROR, "stream window above 2^31-1");
    this.flushStream(stream);
  }

  onUnknownFrame(): void {
    // §5.5: ignored.
  }
}

function methodOf(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === ":method") return fields[i + 1];
  return undefined;
}

function isInformational(fields: readonly string[]): boolean {
  return fields[0] === ":status" && fields[1]!.length === 3 && fields[1]!.charCodeAt(0) === 0x31;
}

function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}

