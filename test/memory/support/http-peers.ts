/**
 * The proxy's peers in memory-runtime tests: a tiny HTTP/1.1 upstream server and a
 * downstream client, both written against the memory runtime's sockets (the port's
 * Socket interface), with the independent parser of http-wire.ts.
 */
import type { CloseReason, PortError, Socket, SocketHandler } from "../../../core/port.ts";
import type { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import type { MemorySocket } from "../../../runtimes/memory/memory-socket.ts";
import { encodeMessage, HttpParser, latin1Bytes, type HttpHead, type HttpMessage } from "./http-wire.ts";

// ------------------------------------------------------------------ upstream server

/** A response being written by an upstream handler. */
export class UpstreamResponse {
  private headSent = false;
  private chunked = false;
  finished = false;

  constructor(
    readonly connection: UpstreamConnection,
    readonly request: HttpHead,
  ) {}

  /** The connection is gone (the handler's delayed work should stop). */
  get closed(): boolean {
    return this.connection.closed;
  }

  get socket(): MemorySocket {
    return this.connection.socket as MemorySocket;
  }

  /** Send the head; without content-length the body is chunked. */
  writeHead(status: number, headers: Record<string, string> = {}): void {
    if (this.headSent || this.closed) return;
    this.headSent = true;
    const fields = Object.entries(headers);
    if (!fields.some(([n]) => n.toLowerCase() === "content-length")) {
      this.chunked = true;
      fields.push(["transfer-encoding", "chunked"]);
    }
    this.connection.socket.write(encodeMessage(`HTTP/1.1 ${status} ${status === 200 ? "OK" : "Status"}`, fields));
  }

  write(data: Uint8Array | string): void {
    if (this.closed || this.finished) return;
    const bytes = typeof data === "string" ? latin1Bytes(data) : data;
    if (bytes.byteLength === 0) return;
    if (this.chunked) {
      this.connection.socket.write(latin1Bytes(`${bytes.byteLength.toString(16)}\r\n`));
      this.connection.socket.write(bytes);
      this.connection.socket.write(latin1Bytes("\r\n"));
    } else {
      this.connection.socket.write(bytes);
    }
  }

  /** Finish the response (with trailers, when chunked). */
  end(data?: Uint8Array | string, trailers: Record<string, string> = {}): void {
    if (this.closed || this.finished) return;
    if (data !== undefined) this.write(data);
    if (this.chunked) this.connection.socket.write(encodeMessage("0", trailers));
    this.finished = true;
    this.connection.responseDone(this);
  }

  /** Write bytes as they are (a hand-made response, an interim one, or garbage). */
  writeRaw(data: Uint8Array | string): void {
    if (this.closed) return;
    this.connection.socket.write(typeof data === "string" ? latin1Bytes(data) : data);
  }

  /** The response is complete (after writeRaw); `close` ends the connection after it (a close-delimited body). */
  finish(close = false): void {
    if (this.closed || this.finished) return;
    this.finished = true;
    if (close) this.connection.socket.close();
    else this.connection.responseDone(this);
  }

  /** A whole response with content-length. */
  respond(status: number, body: Uint8Array | string = "", headers: Record<string, string> = {}): void {
    const bytes = typeof body === "string" ? latin1Bytes(body) : body;
    this.writeHead(status, { ...headers, "content-length": String(bytes.byteLength) });
    this.end(bytes);
  }

  /** Abort the connection (RST). */
  reset(): void {
    this.finished = true;
    this.connection.socket.reset();
  }
}

export type UpstreamHandler = (request: HttpMessage, response: UpstreamResponse) => void;
/**
 * Called when a request's head is complete, before its body: may answer at once (an
 * early response) and return true, in which case the handler is not called for it.
 */
export type UpstreamEarlyHandler = (head: HttpHead, response: UpstreamResponse) => boolean;

/** One accepted connection of the upstream server: requests are answered one at a time, in order. */
export class UpstreamConnection implements SocketHandler {
  readonly parser = new HttpParser("request");
  closed = false;
  closeReason: CloseReason | undefined;
  private peerEnded = false;
  private active: UpstreamResponse | undefined;
  private nextRequest = 0;
  /** Requests (by index) answered early, from their head. */
  private readonly answeredEarly = new Set<number>();
  private heads = 0;

  constructor(
    readonly server: MemoryHttpServer,
    readonly socket: Socket,
  ) {
    socket.setHandler(this);
    this.parser.onMessage = (message) => {
      server.requests.push(message);
      this.serveNext();
    };
    this.parser.onHead = (head) => {
      const index = this.heads++;
      const early = server.earlyHandler;
      if (!early || this.active || index !== this.nextRequest) return;
      const response = new UpstreamResponse(this, head);
      this.active = response;
      if (early(head, response)) {
        this.answeredEarly.add(index);
      } else {
        this.active = undefined;
      }
    };
  }

  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.parser.push(data);
    if (this.parser.error) {
      this.server.errors.push(`upstream parse error: ${this.parser.error}`);
      this.socket.reset();
    }
  }
  onEnd(): void {
    this.peerEnded = true;
    if (!this.active) this.socket.close();
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = true;
    this.closeReason = reason;
    this.server.connections.delete(this);
  }

  private serveNext(): void {
    if (this.active || this.closed) return;
    while (this.answeredEarly.has(this.nextRequest) && this.parser.messages[this.nextRequest]) this.answeredEarly.delete(this.nextRequest++);
    const request = this.parser.messages[this.nextRequest];
    if (!request) return;
    this.nextRequest++;
    const response = new UpstreamResponse(this, request);
    this.active = response;
    this.server.handler(request, response);
  }

  /** @internal */
  responseDone(response: UpstreamResponse): void {
    if (this.active !== response) return;
    this.active = undefined;
    if (this.peerEnded || response.request.get("connection")?.toLowerCase() === "close" || this.server.closeAfterEachResponse) {
      this.socket.close();
      return;
    }
    this.serveNext();
  }
}

/** A tiny HTTP/1.1 server on the memory runtime, answering with `handler`. */
export class MemoryHttpServer {
  readonly connections = new Set<UpstreamConnection>();
  /** Every request received, in order. */
  readonly requests: HttpMessage[] = [];
  readonly errors: string[] = [];
  accepted = 0;
  /** Close each connection after its first response. */
  closeAfterEachResponse = false;
  /** Answers requests from their head, before their body (see UpstreamEarlyHandler). */
  earlyHandler: UpstreamEarlyHandler | undefined;
  private listener: { close(): void } | undefined;

  constructor(public handler: UpstreamHandler) {}

  static async listen(runtime: MemoryRuntime, port: number, handler: UpstreamHandler, address = "127.0.0.1"): Promise<MemoryHttpServer> {
    const server = new MemoryHttpServer(handler);
    server.listener = await runtime.listen({ address, port }, (socket) => {
      server.accepted++;
      server.connections.add(new UpstreamConnection(server, socket));
    });
    return server;
  }

  close(): void {
    this.listener?.close();
  }
}

// ------------------------------------------------------------------ downstream client

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Send the body chunked instead of with content-length. */
  chunked?: boolean;
}

/** A downstream HTTP/1.1 client on one memory-runtime connection. */
export class MemoryHttpClient implements SocketHandler {
  readonly parser = new HttpParser("response");
  readonly socket: MemorySocket;
  connected = false;
  ended = false;
  closeReason: CloseReason | undefined;
  closeError: PortError | undefined;
  /** Requests written. */
  sent = 0;
  /** Called for each complete response. */
  onResponse: ((response: HttpMessage) => void) | undefined;
  /** Called once the connection is closed. */
  onClosed: (() => void) | undefined;
  /** Set when bytes arrive that do not parse as responses. */
  get error(): string | undefined {
    return this.parser.error;
  }

  constructor(
    readonly runtime: MemoryRuntime,
    port: number,
    address = "127.0.0.1",
  ) {
    this.socket = runtime.connect({ address, port }) as MemorySocket;
    this.socket.setHandler(this);
    this.parser.onMessage = (message) => this.onResponse?.(message);
  }

  get responses(): readonly HttpMessage[] {
    return this.parser.messages;
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** The connection was reset (ECONNRESET), not closed cleanly. */
  get wasReset(): boolean {
    return this.closeReason === "error" && this.closeError?.code === "ECONNRESET";
  }

  send(raw: Uint8Array | string): void {
    this.socket.write(typeof raw === "string" ? latin1Bytes(raw) : raw);
  }

  request(method: string, path: string, options: RequestOptions = {}): void {
    // Host: example.com unless the request names its own.
    const own = Object.entries(options.headers ?? {});
    const headers: [string, string][] = own.some(([name]) => name.toLowerCase() === "host") ? own : [["host", "example.com"], ...own];
    const body = typeof options.body === "string" ? latin1Bytes(options.body) : options.body;
    this.sent++;
    this.parser.expectResponseTo(method);
    if (body && options.chunked) {
      headers.push(["transfer-encoding", "chunked"]);
      this.send(encodeMessage(`${method} ${path} HTTP/1.1`, headers));
      if (body.byteLength > 0) {
        this.send(`${body.byteLength.toString(16)}\r\n`);
        this.send(body);
        this.send("\r\n");
      }
      this.send("0\r\n\r\n");
      return;
    }
    if (body) headers.push(["content-length", String(body.byteLength)]);
    this.send(encodeMessage(`${method} ${path} HTTP/1.1`, headers, body));
  }

  onConnect(): void {
    this.connected = true;
  }
  onData(data: Uint8Array): void {
    this.parser.push(data);
  }
  onEnd(): void {
    this.ended = true;
    this.parser.end();
    this.socket.close();
  }
  onDrain(): void {}
  onClose(reason: CloseReason, error?: PortError): void {
    this.closeReason = reason;
    this.closeError = error;
    this.onClosed?.();
  }
}
