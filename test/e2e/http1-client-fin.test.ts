/**
 * A client that closes its side (FIN) before its request's head is complete, on every
 * runtime. Envoy's HTTP/1 codec makes the stream at the request's first byte, and the
 * connection manager takes a FIN as a close (no HTTP/1 half-close): the stream is reset
 * with DC (downstream_remote_disconnect), counted in downstream_cx_destroy_remote_active_rq,
 * logged, and nothing is written back (conn_manager_impl.cc: doConnectionClose). Not a
 * 400 and not a protocol error: the bytes were fine, there were just not enough of them.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as net from "node:net";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n";

/** Writes `bytes`, then FIN; what came back and whether the proxy closed (or reset) the connection within `ms`. */
function sendThenFin(port: number, bytes: string, ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, ms);
    socket.on("connect", () => {
      socket.write(bytes);
      // Apart from the bytes, as a client that gives up on its request would.
      setTimeout(() => socket.end(), 50);
    });
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    // The proxy drops the connection as it resets the stream (an RST where the runtime can).
    socket.on("error", (err: NodeJS.ErrnoException) => (err.code === "ECONNRESET" ? undefined : reject(err)));
  });
}

async function logLines(path: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const all = (existsSync(path) ? readFileSync(path, "utf8") : "").split("\n").filter(Boolean);
    if (all.length >= n || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const HEADS = [
  "G",
  "GET /slow HTTP/1.1\r\n",
  "GET /slow HTTP/1.1\r\nHost: x\r\nX-Pa",
  "GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: padded \r\n\r",
];

describe.each(RUNTIMES)("a client FIN in an unfinished head on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-fin-"));
    [port, adminPort] = await Promise.all([freePort(), freePort()]);
    const config = httpProxyConfig({
      listenPort: port,
      clusters: {},
      routes: [],
      virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }] }],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: join(dir, "access.log"),
              log_format: { text_format_source: { inline_string: FORMAT } },
            },
          },
        ],
      },
    }) as Record<string, unknown>;
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("no reply, the connection closes, the stream is reset with DC and logged", async () => {
    for (const head of HEADS) {
      const { text, closed } = await sendThenFin(port, head);
      expect({ head, text, closed }).toEqual({ head, text: "", closed: true });
    }
    expect(await logLines(join(dir, "access.log"), HEADS.length)).toEqual(new Array(HEADS.length).fill("0 DC downstream_remote_disconnect"));
    const res = await request(`http://127.0.0.1:${adminPort}/stats?filter=^http\\.ingress_http\\.downstream_`);
    const stats = new Map((await res.body.text()).split("\n").filter(Boolean).map((l) => l.split(": ") as [string, string]));
    expect(stats.get("http.ingress_http.downstream_cx_destroy_remote_active_rq")).toBe(String(HEADS.length));
    expect(stats.get("http.ingress_http.downstream_cx_destroy_active_rq")).toBe(String(HEADS.length));
    expect(stats.get("http.ingress_http.downstream_cx_protocol_error")).toBe("0");
    expect(stats.get("http.ingress_http.downstream_rq_4xx")).toBe("0");
    expect(stats.get("http.ingress_http.downstream_rq_active")).toBe("0");
  });

  test("a complete request on a new connection is still answered", async () => {
    const { text } = await sendThenFin(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
  });
});
