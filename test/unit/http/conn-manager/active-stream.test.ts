/**
 * The HCM's ActiveStream (core/http/conn-manager/active-stream.ts) on the memory runtime,
 * through a whole proxy (router only) and raw bytes on both sides: local replies before
 * and after the response started, Expect: 100-continue and upstream 1xx, upgrades, the
 * access log written once when the stream ends, and downstream watermarks reaching the
 * upstream through the stream. (Filter iteration itself is in http-filter-manager.test.ts.)
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Socket } from "../../../../core/port.ts";
import type { Server } from "../../../../core/server.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import type { MemorySocket } from "../../../../runtimes/memory/memory-socket.ts";
import { httpProxyConfig } from "../../../support/configs.ts";
import { startProxy } from "../../../memory/support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const ignore = (): void => {};
const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

/** A peer that records what it receives as text. */
class RawPeer {
  text = "";
  ended = false;
  closed = false;
  onText: ((peer: RawPeer) => void) | undefined;
  /** Close when the other side does (an upstream behind a tunnel). */
  closeOnEnd = false;

  constructor(readonly socket: Socket) {
    socket.setHandler({
      onConnect: ignore,
      onData: (bytes: Uint8Array) => {
        this.text += latin1(bytes);
        this.onText?.(this);
      },
      onEnd: () => {
        this.ended = true;
        if (this.closeOnEnd) socket.close();
      },
      onDrain: ignore,
      onClose: () => {
        this.closed = true;
      },
    });
  }

  send(text: string): void {
    this.socket.write(new TextEncoder().encode(text));
  }
}

let runtime: MemoryRuntime;
let server: Server;
/** Upstream connections the proxy opened, in order. */
let upstreams: RawPeer[];

/** The proxy (access log to stdout) in front of a raw upstream that `onUpstream` drives. */
async function setup(onUpstream: (peer: RawPeer) => void, hcm: Record<string, unknown> = {}, routeAction?: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstreams = [];
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => {
    const peer = new RawPeer(socket);
    peer.onText = onUpstream;
    peer.closeOnEnd = true;
    upstreams.push(peer);
  });
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [{ match: { prefix: "/" }, ...(routeAction ? { action: { route: { cluster: "backend", ...routeAction } } } : { cluster: "backend" }) }],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: "/dev/stdout",
              log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %BYTES_SENT%\n" } },
            },
          },
        ],
        ...hcm,
      },
    }),
  );
}

function client(): RawPeer {
  return new RawPeer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
}

function counter(name: string): number {
  return (server.stats.get(`http.ingress_http.${name}`) as { value: number } | undefined)?.value ?? 0;
}

/** The access log's lines so far (it flushes on its interval: run the clock past it). */
function accessLog(): string[] {
  runtime.advance(1000);
  return runtime.stdoutText.split("\n").filter((line) => line !== "");
}

afterEach(() => {
  runtime?.runUntilIdle();
});

describe("local replies", () => {
  test("before any response: the reply goes out whole, the stream ends and is logged once", async () => {
    await setup(() => {
      throw new Error("nothing reaches the upstream");
    });
    const c = client();
    c.send("GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    runtime.runDue();
    expect(c.text).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
    expect(c.text).toMatch(/\r\ncontent-length: 16\r\n/);
    expect(c.text.endsWith("\r\n\r\nUpgrade Required")).toBe(true);
    const second = client();
    second.send("GET / HTTP/1.1\r\n\r\n");
    runtime.runDue();
    expect(second.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    // Before the head was whole (a codec error): the stream has an empty request head.
    const third = client();
    third.send("GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    runtime.runDue();
    expect(third.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const log = accessLog();
    expect(log.slice(0, 2)).toEqual(["426 - low_version 16", "400 - missing_host_header 11"]);
    expect(log.slice(2)).toEqual([expect.stringMatching(/^400 DPE http1\.\S+ 11$/)]);
    expect(counter("downstream_rq_active")).toBe(0);
  });

  test("after response headers went downstream: the stream is reset, not answered twice", async () => {
    // Headers and part of the body, then nothing: the stream idle timeout fires mid-response.
    await setup((up) => up.send("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial"), { stream_idle_timeout: "1s" });
    const c = client();
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    runtime.runDue();
    expect(c.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\npartial$/);
    runtime.advance(1000);
    runtime.runDue();
    // Envoy's doEndStream on an HTTP/1 reset: FIN behind what was written (FlushWriteAndDelay).
    expect(c.ended).toBe(true);
    expect(c.text).not.toMatch(/504|408/);
    expect(counter("downstream_rq_idle_timeout")).toBe(1);
    // A router stat in Envoy (router.cc chargeUpstreamAbort), for a gRPC call's upstream reset only: not this.
    expect(counter("rq_reset_after_downstream_response_started")).toBe(0);
    expect(accessLog()).toEqual(["200 SI stream_idle_timeout 7"]);
  });
});

describe("1xx", () => {
  test("Expect: 100-continue is answered by the proxy and not forwarded; the upstream's own 100 is not passed on", async () => {
    await setup((up) => {
      if (up.text.endsWith("hello")) up.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    const c = client();
    c.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    runtime.runDue();
    expect(c.text).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    c.send("hello");
    runtime.runDue();
    expect(upstreams[0]!.text.toLowerCase()).not.toContain("expect:");
    expect(c.text.match(/HTTP\/1\.1 100/g)).toHaveLength(1);
    expect(c.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
    expect(accessLog()).toEqual([expect.stringMatching(/^200 - \S+ 2$/)]);
  });
});

describe("upgrades", () => {
  const UPGRADE = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

  test("an upgrade not in upgrade_configs is refused with 403", async () => {
    await setup(() => {
      throw new Error("nothing reaches the upstream");
    });
    const c = client();
    c.send(UPGRADE);
    runtime.runDue();
    expect(c.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(accessLog()).toEqual(["403 - upgrade_failed 0"]);
  });

  test("a configured upgrade: the 101 goes downstream and bytes flow both ways, past the filters", async () => {
    await setup(
      (up) => {
        if (up.text.endsWith("\r\n\r\n")) up.send("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        else if (up.text.endsWith("ping")) up.send("pong");
      },
      { upgrade_configs: [{ upgrade_type: "websocket" }] },
    );
    const c = client();
    c.send(UPGRADE);
    runtime.runDue();
    expect(c.text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(c.text.toLowerCase()).toContain("upgrade: websocket");
    expect(upstreams[0]!.text.toLowerCase()).toContain("upgrade: websocket");
    c.send("ping");
    runtime.runDue();
    expect(upstreams[0]!.text.endsWith("\r\n\r\nping")).toBe(true);
    expect(c.text.endsWith("\r\n\r\npong")).toBe(true);
    // The stream is logged when it ends (here: the client goes), not at the 101.
    expect(accessLog()).toEqual([]);
    c.socket.close();
    runtime.runUntilIdle();
    expect(accessLog()).toEqual(["101 DC downstream_remote_disconnect 4"]);
  });
});

describe("upgrades per route (RouteAction.upgrade_configs, Envoy's createUpgradeFilterChain)", () => {
  const UPGRADE = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n";
  const switching = (up: RawPeer) => {
    if (up.text.endsWith("\r\n\r\n")) up.send("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  };

  test("a route's upgrade_configs entry enables an upgrade the HCM does not list (Envoy's websocket envoy-ws-route example)", async () => {
    await setup(switching, {}, { upgrade_configs: [{ upgrade_type: "websocket" }] });
    const c = client();
    c.send(UPGRADE);
    runtime.runDue();
    expect(c.text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
  });

  test("enabled: false on the route refuses what the HCM allows, with 403", async () => {
    await setup(
      () => {
        throw new Error("nothing reaches the upstream");
      },
      { upgrade_configs: [{ upgrade_type: "websocket" }] },
      { upgrade_configs: [{ upgrade_type: "websocket", enabled: false }] },
    );
    const c = client();
    c.send(UPGRADE);
    runtime.runDue();
    expect(c.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(accessLog()).toEqual(["403 - upgrade_failed 0"]);
  });
});

describe("downstream watermarks", () => {
  test("a client that stops reading pauses the upstream; reading again resumes it and the body arrives whole", async () => {
    const BODY = 4 * 1024 * 1024;
    const chunk = "x".repeat(64 * 1024);
    let writes = 0;
    await setup((up) => {
      if (writes > 0 || !up.text.endsWith("\r\n\r\n")) return;
      up.send(`HTTP/1.1 200 OK\r\ncontent-length: ${BODY}\r\n\r\n`);
      for (; writes < BODY / chunk.length; writes++) up.send(chunk);
    });
    const c = client();
    (c.socket as MemorySocket).readDisable(true);
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // Only what is due: running the clock on would end the stalled stream with its timeouts.
    runtime.runDue();
    // The proxy's side of the upstream connection stopped reading: the stream passed the backup on.
    const proxyUpstreamSide = (upstreams[0]!.socket as MemorySocket).peer!;
    expect(proxyUpstreamSide.readDisabled).toBe(true);
    expect(c.text).toBe("");
    (c.socket as MemorySocket).readDisable(false);
    runtime.runDue();
    expect(proxyUpstreamSide.readDisabled).toBe(false);
    expect(c.text.length - c.text.indexOf("\r\n\r\n") - 4).toBe(BODY);
    expect(accessLog()).toEqual([expect.stringMatching(new RegExp(`^200 - \\S+ ${BODY}$`))]);
  });
});
