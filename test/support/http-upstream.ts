/** Real HTTP upstreams for black-box tests: a node:http server that records what it got. */
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** Index of the TCP connection it came on (counts connections). */
  connection: number;
}

export interface HttpUpstream {
  port: number;
  server: http.Server;
  requests: SeenRequest[];
  connections: number;
  close(): Promise<void>;
}

/**
 * A node:http server on 127.0.0.1. `handler` answers after the body has been read;
 * by default it echoes a JSON summary of the request.
 */
export async function httpUpstream(
  handler?: (req: SeenRequest, res: http.ServerResponse) => void,
  options: http.ServerOptions = {},
): Promise<HttpUpstream> {
  const sockets = new Set<Socket>();
  const result: HttpUpstream = {
    port: 0,
    requests: [],
    connections: 0,
    server: http.createServer(options, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        const seen: SeenRequest = {
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks),
          connection: (req.socket as Socket & { index?: number }).index ?? -1,
        };
        result.requests.push(seen);
        if (handler) return handler(seen, res);
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ method: seen.method, url: seen.url, headers: seen.headers, bodyLength: seen.body.length }));
      });
    }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        result.server.close(() => resolve());
      }),
  };
  result.server.on("connection", (socket: Socket & { index?: number }) => {
    socket.index = result.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((r) => result.server.listen(0, "127.0.0.1", r));
  result.port = (result.server.address() as AddressInfo).port;
  return result;
}
