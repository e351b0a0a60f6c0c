/**
 * An HTTP/2 (h2c) upstream on the memory runtime for the HTTP/2 pool's tests: the core's
 * own Http2ConnectionImpl in the server role on each accepted socket. Every stream is
 * recorded; the test answers it (or resets it) when it wants, and can send GOAWAY with any
 * last-stream-id.
 */
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl } from "../../../core/http2/connection.ts";
import { encodeGoAwayFrame } from "../../../core/http2/frame-writer.ts";
import type { Http2Options } from "../../../core/http2/protocol-options.ts";
import type { Http2Stream } from "../../../core/http2/stream.ts";
import type { Socket, SocketHandler } from "../../../core/port.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import type { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

/** One request as the upstream got it, with the means to answer. */
export class H2Exchange {
  fields: string[] = [];
  body = "";
  trailers: string[] | undefined;
  ended = false;
  reset: number | undefined;

  constructor(
    readonly stream: Http2Stream,
    readonly connection: H2UpstreamConnection,
  ) {}

  header(name: string): string | undefined {
    for (let i = 0; i < this.fields.length; i += 2) if (this.fields[i] === name) return this.fields[i + 1];
    return undefined;
  }

  respond(status: number, body = "", trailers?: string[]): void {
    this.stream.sendHeaders([":status", String(status)], body === "" && trailers === undefined);
    if (body !== "") this.stream.sendData(new TextEncoder().encode(body), trailers === undefined);
    if (trailers !== undefined) this.stream.sendTrailers(trailers);
  }
}

export class H2UpstreamConnection implements SocketHandler {
  readonly codec: Http2ConnectionImpl;
  closed = false;

  constructor(
    readonly server: MemoryH2Server,
    readonly socket: Socket,
    options: Partial<Http2Options>,
  ) {
    socket.setHandler(this);
    this.codec = new Http2ConnectionImpl(
      "server",
      { write: (data) => socket.write(data.slice()) },
      {
        onNewStream: (stream) => {
          const exchange = new H2Exchange(stream, this);
          server.exchanges.push(exchange);
          stream.callbacks = {
            onHeaders: (fields, end) => {
              exchange.fields = fields;
              exchange.ended = end;
              if (end) server.onRequest?.(exchange);
            },
            onData: (data, end) => {
              exchange.body += new TextDecoder().decode(data);
              exchange.ended = end;
              if (end) server.onRequest?.(exchange);
            },
            onTrailers: (fields) => {
              exchange.trailers = fields;
              exchange.ended = true;
              server.onRequest?.(exchange);
            },
            onReset: (code) => (exchange.reset = code),
          };
        },
        onConnectionError: () => socket.close(),
      },
      new Http2CodecStats(new StatsStore().scope("upstream.")),
      options,
    );
    this.codec.start();
  }

  /** GOAWAY naming `lastStreamId` as the last stream processed (RFC 9113 §6.8), as a raw frame. */
  goAway(lastStreamId: number, code = 0): void {
    this.socket.write(encodeGoAwayFrame(lastStreamId, code));
  }

  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.codec.dispatch(data);
  }
  onEnd(): void {
    this.socket.close();
  }
  onDrain(): void {
    this.codec.onWriteDrained();
  }
  onClose(): void {
    this.closed = true;
    this.codec.destroy();
  }
}

export class MemoryH2Server {
  readonly connections: H2UpstreamConnection[] = [];
  readonly exchanges: H2Exchange[] = [];
  /** Called when a request is complete; answer it here or later. */
  onRequest: ((exchange: H2Exchange) => void) | undefined;
  private listener: { close(): void } | undefined;

  static async listen(runtime: MemoryRuntime, port: number, options: Partial<Http2Options> = {}): Promise<MemoryH2Server> {
    const server = new MemoryH2Server();
    server.listener = await runtime.listen({ address: "127.0.0.1", port }, (socket) => {
      server.connections.push(new H2UpstreamConnection(server, socket, options));
    });
    return server;
  }

  close(): void {
    this.listener?.close();
  }
}
