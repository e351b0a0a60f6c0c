/**
 * Test helpers for the HTTP/2 connection: a sink that records what it is given, a peer
 * that reads those frames back (FrameParser + HpackDecoder), and a pair of connections
 * wired to each other.
 */
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl, type Http2ConnectionCallbacks, type Http2ConnectionError, type Http2Role } from "../../../core/http2/connection.ts";
import type { Http2ProtocolError } from "../../../core/http2/frame.ts";
import { type FrameHandler, FrameParser } from "../../../core/http2/frame-parser.ts";
import { HpackDecoder } from "../../../core/http2/hpack-decoder.ts";
import type { Http2Options } from "../../../core/http2/protocol-options.ts";
import type { Http2Stream, Http2StreamCallbacks } from "../../../core/http2/stream.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";

export type Frame =
  | { type: "data"; streamId: number; data: number[]; endStream: boolean }
  | { type: "headers"; streamId: number; fields: string[]; endStream: boolean }
  | { type: "priority"; streamId: number }
  | { type: "rst"; streamId: number; code: number }
  | { type: "settings"; ack: boolean; settings: number[] }
  | { type: "push"; streamId: number }
  | { type: "ping"; ack: boolean; opaque: number[] }
  | { type: "goaway"; lastStreamId: number; code: number; debug: string }
  | { type: "window"; streamId: number; increment: number }
  | { type: "unknown" }
  | { type: "error"; error: Http2ProtocolError };

/** Reads what a connection wrote, as frames (a client's preface first, when asked). */
export class FrameReader implements FrameHandler {
  frames: Frame[] = [];
  private readonly parser: FrameParser;
  private readonly decoder = new HpackDecoder({ maxHeaderListBytes: 1 << 20, maxHeaderCount: 10000 });
  constructor(expectPreface = false) {
    this.parser = new FrameParser(this, { expectPreface, maxFrameSize: 16_777_215 });
  }
  feed(data: Uint8Array): void {
    this.parser.feed(data);
  }
  /** Frames read since the last call. */
  take(): Frame[] {
    const f = this.frames;
    this.frames = [];
    return f;
  }
  onData(streamId: number, data: Uint8Array, endStream: boolean): void {
    this.frames.push({ type: "data", streamId, data: [...data], endStream });
  }
  onHeaders(streamId: number, block: Uint8Array, endStream: boolean): void {
    const fields: string[] = [];
    this.decoder.decode(block, { onHeader: (n, v) => fields.push(n, v) });
    this.frames.push({ type: "headers", streamId, fields, endStream });
  }
  onPriority(streamId: number): void {
    this.frames.push({ type: "priority", streamId });
  }
  onRstStream(streamId: number, code: number): void {
    this.frames.push({ type: "rst", streamId, code });
  }
  onSettings(ack: boolean, settings: readonly number[]): void {
    this.frames.push({ type: "settings", ack, settings: [...settings] });
  }
  onPushPromise(streamId: number): void {
    this.frames.push({ type: "push", streamId });
  }
  onPing(ack: boolean, opaque: Uint8Array): void {
    this.frames.push({ type: "ping", ack, opaque: [...opaque] });
  }
  onGoAway(lastStreamId: number, code: number, debug: Uint8Array): void {
    this.frames.push({ type: "goaway", lastStreamId, code, debug: String.fromCharCode(...debug) });
  }
  onWindowUpdate(streamId: number, increment: number): void {
    this.frames.push({ type: "window", streamId, increment });
  }
  onUnknownFrame(): void {
    this.frames.push({ type: "unknown" });
  }
  onFrameError(error: Http2ProtocolError): void {
    this.frames.push({ type: "error", error });
  }
}

/** Everything a stream's callbacks saw. */
export class StreamLog implements Http2StreamCallbacks {
  events: unknown[][] = [];
  body: Uint8Array[] = [];
  bodyBytes(): Uint8Array {
    const out = new Uint8Array(this.body.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.body) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
  onHeaders(fields: string[], endStream: boolean): void {
    this.events.push(["headers", fields, endStream]);
  }
  onData(data: Uint8Array, endStream: boolean): void {
    this.body.push(data.slice());
    this.events.push(["data", data.length, endStream]);
  }
  onTrailers(fields: string[]): void {
    this.events.push(["trailers", fields]);
  }
  onReset(code: number, remote: boolean): void {
    this.events.push(["reset", code, remote]);
  }
  onWriteBufferWatermark(above: boolean): void {
    this.events.push(["watermark", above]);
  }
}

export class ConnectionLog implements Http2ConnectionCallbacks {
  streams: Http2Stream[] = [];
  logs: StreamLog[] = [];
  errors: Http2ConnectionError[] = [];
  events: unknown[][] = [];
  onNewStream(stream: Http2Stream): void {
    const log = new StreamLog();
    stream.callbacks = log;
    this.streams.push(stream);
    this.logs.push(log);
  }
  onGoAway(lastStreamId: number, code: number): void {
    this.events.push(["goaway", lastStreamId, code]);
  }
  onConnectionError(error: Http2ConnectionError): void {
    this.errors.push(error);
  }
  onPingAck(opaque: Uint8Array): void {
    this.events.push(["pingAck", [...opaque]]);
  }
  onStreamCapacity(): void {}
  onDrained(): void {
    this.events.push(["drained"]);
  }
}

/** A connection whose output is read back by a FrameReader. */
export function connection(role: Http2Role, options: Partial<Http2Options> = {}, now: () => number = () => 0) {
  const store = new StatsStore();
  const stats = new Http2CodecStats(store.scope(""));
  const reader = new FrameReader(role === "client");
  const log = new ConnectionLog();
  const written: Uint8Array[] = [];
  const sink = {
    write(data: Uint8Array) {
      written.push(data.slice());
      reader.feed(data);
    },
  };
  const conn = new Http2ConnectionImpl(role, sink, log, stats, options, now);
  return { conn, reader, log, stats, store, written };
}

/** A client and a server connected back to back; `pump` carries bytes until both are quiet. */
export function pair(serverOptions: Partial<Http2Options> = {}, clientOptions: Partial<Http2Options> = {}) {
  const store = new StatsStore();
  const toServer: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  const serverLog = new ConnectionLog();
  const clientLog = new ConnectionLog();
  const server = new Http2ConnectionImpl("server", { write: (d) => void toClient.push(d.slice()) }, serverLog, new Http2CodecStats(store.scope("server.")), serverOptions);
  const client = new Http2ConnectionImpl("client", { write: (d) => void toServer.push(d.slice()) }, clientLog, new Http2CodecStats(store.scope("client.")), clientOptions);
  const pump = (): void => {
    for (let i = 0; i < 1000 && (toServer.length > 0 || toClient.length > 0); i++) {
      while (toServer.length > 0) server.dispatch(toServer.shift()!);
      while (toClient.length > 0) client.dispatch(toClient.shift()!);
    }
  };
  server.start();
  client.start();
  pump();
  return { server, client, serverLog, clientLog, pump, store };
}
