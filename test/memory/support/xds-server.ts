/**
 * An xDS management server on the memory runtime for the gRPC mux's tests: the core's
 * Http2ConnectionImpl in the server role, each stream a state-of-the-world discovery
 * stream. It records every DiscoveryRequest (decoded with the core's ProtoReader) and
 * sends what the test says, when it says: nothing is answered on its own, so a test
 * sees exactly which request came before which response.
 */
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl } from "../../../core/http2/connection.ts";
import type { Http2Stream } from "../../../core/http2/stream.ts";
import { encodeGrpcFrame, GrpcFrameDecoder } from "../../../core/http/grpc-frame.ts";
import type { Listener } from "../../../core/port.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { ProtoReader, ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import type { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

export interface DiscoveryRequest {
  versionInfo: string;
  /** node.id, when the node was sent. */
  nodeId: string | undefined;
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  error: { code: number; message: string } | undefined;
}

export class XdsStream {
  readonly requests: DiscoveryRequest[] = [];
  ended = false;
  reset = false;
  /** The request headers (name, value, …). */
  headers: string[] = [];
  private readonly frames = new GrpcFrameDecoder(1 << 24, () => true);
  private headersSent = false;

  constructor(
    readonly server: MemoryXdsServer,
    readonly h2: Http2Stream,
  ) {}

  header(name: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i] === name) out.push(this.headers[i + 1]!);
    return out;
  }

  /** @internal */
  onData(data: Uint8Array): void {
    for (const frame of this.frames.decode(data) ?? []) {
      const request = decodeDiscoveryRequest(frame.data);
      this.requests.push(request);
      this.server.onRequest?.(this, request);
    }
  }

  /** A DiscoveryResponse on this stream. */
  respond(typeUrl: string, versionInfo: string, nonce: string, resources: readonly Uint8Array[]): void {
    const writer = new ProtoWriter().string(1, versionInfo);
    for (const resource of resources) writer.message(2, (any) => any.string(1, typeUrl).bytesField(2, resource));
    writer.string(4, typeUrl).string(5, nonce);
    this.send(writer.finish());
  }

  /** Raw bytes as one gRPC message (a bad response, a large one). */
  send(message: Uint8Array): void {
    if (!this.headersSent) {
      this.headersSent = true;
      this.h2.sendHeaders([":status", "200", "content-type", "application/grpc"], false);
    }
    this.h2.sendData(encodeGrpcFrame(0, message), false);
  }

  /** End the call with `grpcStatus` (trailers). */
  close(grpcStatus = 14): void {
    if (!this.headersSent) this.h2.sendHeaders([":status", "200", "content-type", "application/grpc", "grpc-status", String(grpcStatus)], true);
    else this.h2.sendTrailers(["grpc-status", String(grpcStatus)]);
    this.ended = true;
  }

  /** The requests of `typeUrl` on this stream. */
  of(typeUrl: string): DiscoveryRequest[] {
    return this.requests.filter((r) => r.typeUrl === typeUrl);
  }
}

export class MemoryXdsServer {
  readonly streams: XdsStream[] = [];
  onRequest: ((stream: XdsStream, request: DiscoveryRequest) => void) | undefined;
  private listener: Listener | undefined;

  static async listen(runtime: MemoryRuntime, port: number): Promise<MemoryXdsServer> {
    const server = new MemoryXdsServer();
    server.listener = await runtime.listen({ address: "127.0.0.1", port }, (socket) => {
      const conn = new Http2ConnectionImpl(
        "server",
        { write: (data) => socket.write(data.slice()) },
        { onNewStream: (h2) => server.onStream(h2), onConnectionError: () => socket.close() },
        new Http2CodecStats(new StatsStore().scope("server.")),
      );
      socket.setHandler({
        onConnect() {},
        onData: (data) => conn.dispatch(data),
        onEnd: () => socket.close(),
        onDrain: () => conn.onWriteDrained(),
        onClose: () => conn.destroy(),
      });
      conn.start();
    });
    return server;
  }

  private onStream(h2: Http2Stream): void {
    const stream = new XdsStream(this, h2);
    this.streams.push(stream);
    h2.callbacks = {
      onHeaders: (fields) => {
        stream.headers = fields;
      },
      onData: (data) => stream.onData(data),
      onTrailers: () => {},
      onReset: () => {
        stream.reset = true;
      },
    };
  }

  /** The stream opened last. */
  get last(): XdsStream {
    const stream = this.streams.at(-1);
    if (stream === undefined) throw new Error("no xDS stream");
    return stream;
  }

  close(): void {
    this.listener?.close();
  }
}

/** envoy.service.discovery.v3.DiscoveryRequest: version_info 1, node 2 (id 1), resource_names 3, type_url 4, response_nonce 5, error_detail 6 (code 1, message 2). */
export function decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest {
  const out: DiscoveryRequest = { versionInfo: "", nodeId: undefined, resourceNames: [], typeUrl: "", responseNonce: "", error: undefined };
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (reader.field === 1) out.versionInfo = text(reader.lengthDelimited());
    else if (reader.field === 2) {
      const node = new ProtoReader(reader.lengthDelimited());
      out.nodeId = "";
      while (node.next()) if (node.field === 1) out.nodeId = text(node.lengthDelimited());
      else node.skip();
    } else if (reader.field === 3) out.resourceNames.push(text(reader.lengthDelimited()));
    else if (reader.field === 4) out.typeUrl = text(reader.lengthDelimited());
    else if (reader.field === 5) out.responseNonce = text(reader.lengthDelimited());
    else if (reader.field === 6) {
      const status = new ProtoReader(reader.lengthDelimited());
      const error = { code: 0, message: "" };
      while (status.next()) if (status.field === 1) error.code = status.uint32();
      else if (status.field === 2) error.message = text(status.lengthDelimited());
      else status.skip();
      out.error = error;
    } else reader.skip();
  }
  return out;
}
