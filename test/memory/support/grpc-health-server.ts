/**
 * A grpc.health.v1.Health server for memory-runtime tests: the core's Http2ConnectionImpl
 * in the server role on each accepted socket, answering Check as `answer(service)` says.
 */
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl } from "../../../core/http2/connection.ts";
import type { Http2Stream } from "../../../core/http2/stream.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import type { Listener } from "../../../core/port.ts";
import type { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

/** What the server does with one Check: a serving status (0..3), a gRPC error, an HTTP error, silence, or a bad message. */
export type HealthAnswer = { status: number } | { grpcStatus: number } | { httpStatus: number } | "hang" | "garbage";

export interface ReceivedCheck {
  headers: string[];
  /** The request's gRPC message (without the 5-byte prefix). */
  message: Uint8Array;
}

export class MemoryGrpcHealthServer {
  private listener: Listener | undefined;
  accepted = 0;
  readonly checks: ReceivedCheck[] = [];

  private constructor(public answer: (message: Uint8Array) => HealthAnswer) {}

  static async listen(runtime: MemoryRuntime, port: number, answer: (message: Uint8Array) => HealthAnswer): Promise<MemoryGrpcHealthServer> {
    const server = new MemoryGrpcHealthServer(answer);
    server.listener = await runtime.listen({ address: "127.0.0.1", port }, (socket) => {
      server.accepted++;
      const conn = new Http2ConnectionImpl(
        "server",
        { write: (data) => socket.write(data.slice()) },
        { onNewStream: (stream) => server.onStream(stream), onConnectionError: () => socket.close() },
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

  private onStream(stream: Http2Stream): void {
    let headers: string[] = [];
    const body: number[] = [];
    const respond = (): void => {
      const message = Uint8Array.from(body.slice(5));
      this.checks.push({ headers, message });
      const answer = this.answer(message);
      if (answer === "hang") return;
      if (answer === "garbage") {
        stream.sendHeaders([":status", "200", "content-type", "application/grpc"], false);
        stream.sendData(Uint8Array.of(0, 0, 0, 0, 2, 0xff, 0xff), false);
        stream.sendTrailers(["grpc-status", "0"]);
      } else if ("httpStatus" in answer) {
        stream.sendHeaders([":status", String(answer.httpStatus)], true);
      } else if ("grpcStatus" in answer) {
        stream.sendHeaders([":status", "200", "content-type", "application/grpc", "grpc-status", String(answer.grpcStatus)], true);
      } else {
        stream.sendHeaders([":status", "200", "content-type", "application/grpc"], false);
        stream.sendData(Uint8Array.of(0, 0, 0, 0, 2, 0x08, answer.status), false);
        stream.sendTrailers(["grpc-status", "0"]);
      }
    };
    stream.callbacks = {
      onHeaders: (fields, end) => {
        headers = fields;
        if (end) respond();
      },
      onData: (data, end) => {
        body.push(...data);
        if (end) respond();
      },
      onTrailers: () => respond(),
      onReset: () => {},
    };
  }

  close(): void {
    this.listener?.close();
  }
}
