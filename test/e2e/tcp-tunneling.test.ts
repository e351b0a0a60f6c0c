/**
 * tcp_proxy tunneling_config (TCP over HTTP, Envoy's HttpUpstream) on every runtime: a
 * node:net client's bytes reach (1) a raw HTTP/1.1 upstream through `CONNECT`, whose exact
 * request bytes it checks, (2) the same through `POST` with a chunked body, (3) an upstream
 * that answers 403, which closes the client (flag UF), and (4) a node:http2 upstream through
 * an HTTP/2 CONNECT stream.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http2 from "node:http2";
import type * as net from "node:net";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { randomBytes } from "node:crypto";
import { connect, freePort, peerClosed, readAll, sha256, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { fileAccessLog } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Bytes until `socket` has sent `n` of them. */
function readBytes(socket: net.Socket, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const onData = (d: Buffer) => {
      got += d.toString("latin1");
      if (got.length < n) return;
      socket.off("data", onData);
      resolve(got);
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

/**
 * A raw HTTP/1.1 upstream. It reads the request head and answers by its target:
 * `refuse.test` gets a 403; a CONNECT gets a 200 and then its bytes echoed raw; a POST a
 * chunked 200 whose chunks are the body's chunks upper-cased.
 */
function rawUpstream(heads: string[], connections: string[]): Promise<TcpServer> {
  return tcpServer((socket) => {
    connections.push("");
    const index = connections.length - 1;
    let buffered = "";
    let head: string | undefined;
    socket.on("data", (d: Buffer) => {
      buffered += d.toString("latin1");
      if (head === undefined) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        heads.push(head);
        connections[index] += head;
        // connect_timeout runs until the response head: this one never comes.
        if (head.includes("silent.test")) return;
        // A tunnel the upstream ends at once: its FIN with its first bytes.
        if (head.includes("bye.test")) return void socket.end("HTTP/1.1 200 OK\r\n\r\nbye");
        if (head.includes("refuse.test")) return void socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        // A complete response before the request's end, the connection kept open.
        if (head.includes("early.test")) return void socket.write("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbye");
        // Bytes after the head, in the same write, are the tunnel's first.
        socket.write(head.startsWith("POST") ? "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" : "HTTP/1.1 200 Connection established\r\n\r\nhi:");
      }
      if (head.startsWith("CONNECT")) {
        if (buffered) socket.write(buffered, "latin1");
        buffered = "";
        return;
      }
      // POST: echo each complete chunk upper-cased; the last chunk ends the response.
      for (;;) {
        const line = buffered.indexOf("\r\n");
        if (line < 0) return;
        const size = parseInt(buffered.slice(0, line), 16);
        // Not a chunk (another request on this connection): refused.
        if (!(size >= 0)) return void socket.destroy();
        if (buffered.length < line + 2 + size + 2) return;
        const data = buffered.slice(line + 2, line + 2 + size);
        buffered = buffered.slice(line + 2 + size + 2);
        // keep.test's upstream would keep the connection for another request.
        if (size === 0) return void (head.includes("keep.test") ? socket.write("0\r\n\r\n") : socket.end("0\r\n\r\n"));
        socket.write(`${size.toString(16)}\r\n${data.toUpperCase()}\r\n`);
      }
    });
    // A CONNECT tunnel's half-close comes through as ours.
    socket.on("end", () => {
      if (head?.startsWith("CONNECT")) socket.end();
    });
  });
}

function tcpProxyListener(name: string, port: number, cluster: string, tunneling: Record<string, unknown>, accessLog?: string, extra: Record<string, unknown> = {}): object {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: { "@type": TCP_PROXY, stat_prefix: name, cluster, tunneling_config: tunneling, ...extra, ...(accessLog ? { access_log: [fileAccessLog(accessLog, "%RESPONSE_FLAGS% %UPSTREAM_HOST%\n")] } : {}) },
          },
        ],
      },
    ],
  };
}

function cluster(name: string, port: number, extra: Record<string, unknown> = {}): object {
  return {
    name,
    type: "STATIC",
    connect_timeout: "2s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
    ...extra,
  };
}

describe.each(RUNTIMES)("tcp_proxy tunneling_config on %s", (runtime) => {
  const heads: string[] = [];
  /** Each upstream connection's request heads, in order. */
  const connections: string[] = [];
  const h2Heads: http2.IncomingHttpHeaders[] = [];
  let h1: TcpServer;
  let h2: http2.Http2Server;
  let proxy: ProxyProcess;
  const ports = { connect: 0, post: 0, refuse: 0, h2: 0, h2post: 0, h2refuse: 0, silent: 0, idle: 0, bye: 0, early: 0, keep: 0, h2cl: 0, admin: 0 };
  const logs = mkdtempSync(join(tmpdir(), "polyvoy-tunnel-"));
  const accessLog = join(logs, "refuse.log");
  const silentLog = join(logs, "silent.log");

  beforeAll(async () => {
    h1 = await rawUpstream(heads, connections);
    h2 = http2.createServer();
    h2.on("stream", (stream, headers) => {
      h2Heads.push(headers);
      // HTTP/2 opens a tunnel on a 200 only (Envoy's HttpUpstream::isValidResponse).
      if (headers[":authority"] === "refuse.test:443") return void stream.respond({ ":status": 201 });
      if (headers[":method"] !== "CONNECT" && headers[":method"] !== "POST") return void stream.respond({ ":status": 405 }, { endStream: true });
      // A content-length on a CONNECT's 200 frames nothing (RFC 9110 §8.6): the tunnel's bytes follow.
      stream.respond(headers[":authority"] === "cl.test:443" ? { ":status": 200, "content-length": "0" } : { ":status": 200 });
      stream.write("h2:");
      stream.pipe(stream);
    });
    h2.on("error", () => {});
    await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
    const h2Port = (h2.address() as net.AddressInfo).port;
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          tcpProxyListener("connect", ports.connect, "h1", { hostname: "backend.test:%DOWNSTREAM_LOCAL_PORT%", headers_to_add: [{ header: { key: "x-tunnel", value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" } }] }),
          tcpProxyListener("post", ports.post, "h1", { hostname: "backend.test:443", use_post: true, post_path: "/tunnel" }),
          tcpProxyListener("refuse", ports.refuse, "h1", { hostname: "refuse.test:443" }, accessLog),
          tcpProxyListener("h2", ports.h2, "h2", { hostname: "h2.test:443" }),
          tcpProxyListener("h2post", ports.h2post, "h2", { hostname: "h2.test:443", use_post: true, post_path: "/up" }),
          tcpProxyListener("h2refuse", ports.h2refuse, "h2", { hostname: "refuse.test:443" }),
          tcpProxyListener("silent", ports.silent, "h1_fast", { hostname: "silent.test:443" }, silentLog),
          tcpProxyListener("bye", ports.bye, "h1", { hostname: "bye.test:443" }),
          tcpProxyListener("early", ports.early, "h1_small", { hostname: "early.test:443", use_post: true }),
          tcpProxyListener("keep", ports.keep, "h1", { hostname: "keep.test:443", use_post: true }),
          tcpProxyListener("h2cl", ports.h2cl, "h2", { hostname: "cl.test:443" }),
          tcpProxyListener("idle", ports.idle, "h1", { hostname: "idle.test:443" }, undefined, { idle_timeout: "0.5s" }),
        ],
        clusters: [
          cluster("h1", h1.port),
          cluster("h1_fast", h1.port, { connect_timeout: "0.5s" }),
          cluster("h1_small", h1.port, { circuit_breakers: { thresholds: [{ max_requests: 2 }] } }),
          cluster("h2", h2Port, { typed_extension_protocol_options: { [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } } } }),
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await h1?.close();
    h2?.close();
  });

  test("CONNECT over HTTP/1.1: Envoy's request head, the 200's trailing bytes passed on, bytes echoed, half-close both ways", async () => {
    heads.length = 0;
    const client = await connect(ports.connect);
    const received = readAll(client);
    client.write("hello");
    // Held until the 200 came, then sent on; the echo comes back after the upstream's "hi:".
    client.end();
    expect((await received).toString()).toBe("hi:hello");
    expect(heads).toEqual([`CONNECT backend.test:${ports.connect} HTTP/1.1\r\nhost: backend.test:${ports.connect}\r\nx-tunnel: 127.0.0.1\r\n\r\n`]);
  });

  test("POST over HTTP/1.1: POST post_path with a chunked body; the chunked response's data comes back", async () => {
    heads.length = 0;
    const client = await connect(ports.post);
    client.write("hello");
    expect(await readBytes(client, 5)).toBe("HELLO");
    const rest = readAll(client);
    client.end();
    expect((await rest).toString()).toBe("");
    expect(heads).toEqual(["POST /tunnel HTTP/1.1\r\nhost: backend.test:443\r\ntransfer-encoding: chunked\r\n\r\n"]);
  });

  test("a 403 to the CONNECT closes the client with nothing sent, flags UF (connect failure) and URX (max_connect_attempts 1 spent), as Envoy", async () => {
    heads.length = 0;
    const client = await connect(ports.refuse);
    const received = readAll(client).catch(() => Buffer.alloc(0));
    client.write("never delivered");
    await peerClosed(client);
    expect((await received).length).toBe(0);
    client.destroy();
    expect(heads).toEqual(["CONNECT refuse.test:443 HTTP/1.1\r\nhost: refuse.test:443\r\n\r\n"]);
    for (let i = 0; i < 50 && !(existsSync(accessLog) && readFileSync(accessLog, "utf8")); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(accessLog, "utf8")).toBe(`UF,URX 127.0.0.1:${h1.port}\n`);
  });

  test("CONNECT over HTTP/2: :method CONNECT and :authority only, DATA both ways, END_STREAM for the half-close", async () => {
    h2Heads.length = 0;
    const client = await connect(ports.h2);
    const received = readAll(client);
    client.write("over h2");
    client.end();
    expect((await received).toString()).toBe("h2:over h2");
    expect(h2Heads.length).toBe(1);
    const head = h2Heads[0]!;
    expect(head[":method"]).toBe("CONNECT");
    expect(head[":authority"]).toBe("h2.test:443");
    expect(head[":path"]).toBeUndefined();
    expect(head[":scheme"]).toBeUndefined();
  });

  test("POST over HTTP/2: :scheme and :path sent, the body's DATA echoed back", async () => {
    h2Heads.length = 0;
    const client = await connect(ports.h2post);
    const received = readAll(client);
    client.write("posted");
    client.end();
    expect((await received).toString()).toBe("h2:posted");
    expect(h2Heads.length).toBe(1);
    expect(h2Heads[0]).toMatchObject({ ":method": "POST", ":authority": "h2.test:443", ":scheme": "http", ":path": "/up" });
  });

  test("over HTTP/2 a 2xx other than 200 does not open the tunnel: the client is closed with nothing sent", async () => {
    const client = await connect(ports.h2refuse);
    const received = readAll(client).catch(() => Buffer.alloc(0));
    client.write("never delivered");
    await peerClosed(client);
    expect((await received).length).toBe(0);
    client.destroy();
  });

  test("connect_timeout covers the response: an upstream that accepts the CONNECT and never answers closes the client (UF)", async () => {
    const client = await connect(ports.silent);
    const started = Date.now();
    client.resume();
    await peerClosed(client);
    const elapsed = Date.now() - started;
    client.destroy();
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(5000);
    for (let i = 0; i < 50 && !(existsSync(silentLog) && readFileSync(silentLog, "utf8")); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(silentLog, "utf8")).toBe(`UF,URX 127.0.0.1:${h1.port}\n`);
  });

  test("over HTTP/1.1 the upstream's FIN ends the tunnel: the client gets the bytes, then the close, while it has not ended", async () => {
    const client = await connect(ports.bye);
    const received = readAll(client);
    client.write("still talking");
    expect((await received).toString()).toBe("bye");
    // The proxy closed the connection, not only half-closed it: writing on finds it gone.
    const gone = new Promise<boolean>((resolve) => {
      client.once("error", () => resolve(true));
      client.once("close", () => resolve(true));
      setTimeout(() => resolve(false), 3000);
    });
    const writer = setInterval(() => client.writable && client.write("more"), 50);
    const closed = await gone;
    clearInterval(writer);
    client.destroy();
    expect(closed).toBe(true);
  });

  test("a POST tunnel whose response completes first frees its request and connection: three tunnels in turn through max_requests 2", async () => {
    for (let i = 0; i < 3; i++) {
      // The client sends nothing: the response comes on the request's head, its body unfinished.
      const client = await connect(ports.early);
      const received = readAll(client);
      expect((await received).toString()).toBe("bye");
      client.destroy();
    }
    let stats = "";
    for (let i = 0; i < 50; i++) {
      stats = await (await fetch(`http://127.0.0.1:${ports.admin}/stats`)).text();
      if (/^cluster\.h1_small\.upstream_rq_active: 0$/m.test(stats) && /^cluster\.h1_small\.upstream_cx_active: 0$/m.test(stats)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stats).toMatch(/^cluster\.h1_small\.upstream_rq_active: 0$/m);
    expect(stats).toMatch(/^cluster\.h1_small\.upstream_cx_active: 0$/m);
    expect(stats).toMatch(/^cluster\.h1_small\.upstream_rq_pending_overflow: 0$/m);
  });

  test("an HTTP/1.1 connection that carried a POST tunnel is not reused (Envoy's codec closes it after a tunneling request)", async () => {
    connections.length = 0;
    for (let i = 0; i < 2; i++) {
      const client = await connect(ports.keep);
      client.write("once");
      expect(await readBytes(client, 4)).toBe("ONCE");
      const rest = readAll(client);
      client.end();
      expect((await rest).toString()).toBe("");
    }
    expect(connections.filter((heads) => heads.includes("keep.test")).length).toBe(2);
    expect(connections.every((heads) => heads.split("POST").length - 1 <= 1)).toBe(true);
  });

  test("over HTTP/2 a CONNECT's 200 with content-length: 0 still opens the tunnel (the field frames nothing)", async () => {
    const client = await connect(ports.h2cl);
    const received = readAll(client);
    client.write("counted");
    client.end();
    expect((await received).toString()).toBe("h2:counted");
  });

  test("idle_timeout applies to a tunnel: no bytes either way for 0.5 s close it (tcp.idle.idle_timeout)", async () => {
    const client = await connect(ports.idle);
    expect(await readBytes(client, 3)).toBe("hi:");
    const started = Date.now();
    await peerClosed(client);
    client.destroy();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const stats = await (await fetch(`http://127.0.0.1:${ports.admin}/stats`)).text();
    expect(stats).toMatch(/^tcp\.idle\.idle_timeout: 1$/m);
  });

  // Flow control both ways: the client writes faster than the echo comes back.
  test.each([
    ["HTTP/1.1", "connect", "hi:"],
    ["HTTP/2", "h2", "h2:"],
  ] as const)("8 MiB echoed through a %s CONNECT tunnel arrive intact", async (_protocol, listener, prefix) => {
    const data = randomBytes(8 * 1024 * 1024);
    const client = await connect(ports[listener]);
    const received = readAll(client);
    for (let at = 0; at < data.length; at += 65536) {
      if (!client.write(data.subarray(at, at + 65536))) await new Promise((r) => client.once("drain", r));
    }
    client.end();
    const back = await received;
    expect(back.subarray(0, 3).toString()).toBe(prefix);
    expect(back.length - 3).toBe(data.length);
    expect(sha256(back.subarray(3))).toBe(sha256(data));
  });

  // Envoy's tcp_proxy runs no router filter: a tunnel charges its host neither rq_success nor
  // rq_error (only a router does, router.cc), whether it opened (the CONNECTs above) or was refused (the 403).
  test("tunnels charge the host neither rq_success nor rq_error, as Envoy's tcp_proxy; rq_total counts them", async () => {
    const clusters = await (await fetch(`http://127.0.0.1:${ports.admin}/clusters`)).text();
    const host = `h1::127.0.0.1:${h1.port}::`;
    expect(clusters).toContain(`${host}rq_success::0\n`);
    expect(clusters).toContain(`${host}rq_error::0\n`);
    expect(clusters).not.toContain(`${host}rq_total::0\n`);
  });
});
