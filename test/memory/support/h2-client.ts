/** An HTTP/2 client for memory-runtime tests: the core's own Http2ConnectionImpl in the client role. */
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl, type Http2ConnectionError } from "../../../core/http2/connection.ts";
import type { Http2Stream } from "../../../core/http2/stream.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import type { SocketHandler } from "../../../core/port.ts";
import type { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

export interface Exchange {
  headers: string[][];
  body: number;
  text: string;
  trailers: string[] | undefined;
  ended: boolean;
  reset: number | undefined;
  stream: Http2Stream;
}

/** An HTTP/2 client on one memory-runtime connection. */
export class H2Client implements SocketHandler {
  readonly socket;
  readonly conn: Http2ConnectionImpl;
  error: Http2ConnectionError | undefined;
  goAway: { lastStreamId: number; code: number } | undefined;
  closed = false;

  constructor(runtime: MemoryRuntime, port: number, options: { initialStreamWindowSize?: number } = {}) {
    this.socket = runtime.connect({ address: "127.0.0.1", port });
    this.socket.setHandler(this);
    this.conn = new Http2ConnectionImpl(
      "client",
      { write: (data) => this.socket.write(data.slice()) },
      {
        onConnectionError: (e) => (this.error = e),
        onGoAway: (lastStreamId, code) => (this.goAway = { lastStreamId, code }),
      },
      new Http2CodecStats(new StatsStore().scope("client.")),
      options,
    );
    this.conn.start();
  }

  /** `keepOpen`: the request body is sent without END_STREAM (the request stays open). */
  request(fields: string[], body?: string, trailers?: string[], keepOpen = false): Exchange {
    const ex = { headers: [], body: 0, text: "", trailers: undefined, ended: false, reset: undefined } as unknown as Exchange;
    const stream = this.conn.newStream({
      onHeaders: (f, end) => {
        ex.headers.push(f);
        if (end) ex.ended = true;
      },
      onData: (d, end) => {
        ex.body += d.length;
        if (ex.text.length < 1000) ex.text += String.fromCharCode(...d.subarray(0, 1000));
        if (end) ex.ended = true;
      },
      onTrailers: (f) => {
        ex.trailers = f;
        ex.ended = true;
      },
      onReset: (code) => (ex.reset = code),
    })!;
    ex.stream = stream;
    const end = body === undefined && trailers === undefined;
    stream.sendHeaders([":method", body === undefined ? "GET" : "POST", ":scheme", "http", ":authority", "example.com", ...fields], end);
    if (body !== undefined) stream.sendData(new TextEncoder().encode(body), trailers === undefined && !keepOpen);
    if (trailers !== undefined) stream.sendTrailers(trailers);
    return ex;
  }

  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.conn.dispatch(data);
  }
  onEnd(): void {
    this.socket.close();
  }
  onDrain(): void {
    this.conn.onWriteDrained();
  }
  onClose(): void {
    this.closed = true;
    this.conn.destroy();
  }
}
