/**
 * TLS session resumption on every runtime, black-box with `openssl s_client -sess_out /
 * -sess_in` (its "Reused" line): the default (tickets), session_ticket_keys shared by two
 * listeners (node), disable_stateless_session_resumption and session_timeout (node, bun),
 * each refused by name where the runtime's node:tls ignores it; and upstream session
 * reuse (max_session_keys) counted in the cluster's ssl.session_reused.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, runToExit, type RuntimeName, writeConfig } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";
import { adminStats } from "../support/tls-probe.ts";

let certs: TestCerts;
let dir: string;
let keyFile: string;
let keyBase64: string;

beforeAll(() => {
  certs = mintTestCerts();
  dir = mkdtempSync(join(tmpdir(), "polyvoy-sessions-"));
  const key = randomBytes(80);
  keyFile = join(dir, "ticket.key");
  writeFileSync(keyFile, key);
  keyBase64 = key.toString("base64");
});

/** One s_client handshake and request; `-sess_out FILE` or `-sess_in FILE` in `args`. Its output. */
function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "example.com", "-ign_eof", ...args]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill(), 10_000);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    child.stdin.end("GET / HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n");
  });
}

/** A first connection to `first`, then one to `second` offering its session: "New" or "Reused", and the second's output. */
async function resume(first: number, second: number, version = "-tls1_3"): Promise<{ result: string; out: string }> {
  const file = join(dir, `session-${Math.random().toString(36).slice(2)}`);
  await sClient(first, [version, "-sess_out", file]);
  // TLS 1.3 without a ticket: s_client has no session to write.
  if (!existsSync(file)) return { result: "no session", out: "" };
  const out = await sClient(second, [version, "-sess_in", file]);
  return { result: /^(New|Reused),/m.exec(out)?.[1] ?? `? ${out.slice(0, 400)}`, out };
}

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

function hcm(name: string, route: Record<string, unknown>) {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: name,
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, ...route }] }] },
      http_filters: [ROUTER],
    },
  };
}

function tlsListener(name: string, port: number, extra: Record<string, unknown>) {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context: { tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }] },
            ...extra,
          },
        },
        filters: [hcm(name, { direct_response: { status: 200, body: { inline_string: `${name} ok` } } })],
      },
    ],
  };
}

function tlsCluster(name: string, port: number, extra: Record<string, unknown>) {
  return {
    name,
    connect_timeout: "2s",
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni: "example.com", ...extra },
    },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

const TICKET_KEYS = () => ({ session_ticket_keys: { keys: [{ filename: keyFile }] } });
const TICKET_KEYS_INLINE = () => ({ session_ticket_keys: { keys: [{ inline_bytes: keyBase64 }] } });
const honours = (runtime: RuntimeName) => ({ ticketKeys: runtime === "node", settings: runtime !== "deno" });

describe.each(RUNTIMES)("TLS session resumption on %s", (runtime) => {
  let proxy: ProxyProcess;
  let upstream: https.Server;
  const ports: Record<string, number> = {};
  const can = honours(runtime);

  beforeAll(async () => {
    // Closes each connection after its response, so each request makes a new TLS connection.
    upstream = https.createServer({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) }, (_req, res) => {
      res.setHeader("connection", "close");
      res.end("upstream ok");
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    for (const name of ["plain", "other", "keys1", "keys2", "stateless", "timeout", "reuse", "noReuse", "admin"]) ports[name] = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          tlsListener("plain", ports.plain!, {}),
          tlsListener("other", ports.other!, {}),
          ...(can.ticketKeys ? [tlsListener("keys1", ports.keys1!, TICKET_KEYS()), tlsListener("keys2", ports.keys2!, TICKET_KEYS_INLINE())] : []),
          ...(can.settings ? [tlsListener("stateless", ports.stateless!, { disable_stateless_session_resumption: true }), tlsListener("timeout", ports.timeout!, { session_timeout: "77s" })] : []),
          { name: "reuse", address: { socket_address: { address: "127.0.0.1", port_value: ports.reuse } }, filter_chains: [{ filters: [hcm("reuse", { route: { cluster: "reuse" } })] }] },
          { name: "noReuse", address: { socket_address: { address: "127.0.0.1", port_value: ports.noReuse } }, filter_chains: [{ filters: [hcm("noReuse", { route: { cluster: "no_reuse" } })] }] },
        ],
        clusters: [tlsCluster("reuse", upstreamPort, {}), tlsCluster("no_reuse", upstreamPort, { max_session_keys: 0 })],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  test("by default a session is resumed (tickets), on TLS 1.3 and 1.2, counted in ssl.session_reused", async () => {
    expect((await resume(ports.plain!, ports.plain!)).result).toBe("Reused");
    expect((await resume(ports.plain!, ports.plain!, "-tls1_2")).result).toBe("Reused");
    expect((await adminStats(ports.admin!)).get(`listener.127.0.0.1_${ports.plain}.ssl.session_reused`)).toBe(2);
  });

  test("session_ticket_keys: two listeners given one key resume each other's sessions (node; refused elsewhere)", async () => {
    if (!can.ticketKeys) {
      const r = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [tlsListener("keys1", await freePort(), TICKET_KEYS())] } })]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`session_ticket_keys cannot be honoured on ${runtime}`);
      return;
    }
    expect((await resume(ports.keys1!, ports.keys2!)).result).toBe("Reused");
    expect((await resume(ports.keys2!, ports.keys1!, "-tls1_2")).result).toBe("Reused");
    // Without shared keys, another listener cannot read the ticket.
    expect((await resume(ports.plain!, ports.other!)).result).toBe("New");
  });

  test("disable_stateless_session_resumption and session_timeout (node, bun; refused on deno)", async () => {
    if (!can.settings) {
      const r = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [tlsListener("s", await freePort(), { disable_stateless_session_resumption: true, session_timeout: "77s" })] } })]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`disable_stateless_session_resumption, session_timeout cannot be honoured on ${runtime}`);
      return;
    }
    // TLS 1.3: node's OpenSSL still sends a (stateful) ticket it cannot resume, Bun's BoringSSL none.
    expect(["New", "no session"]).toContain((await resume(ports.stateless!, ports.stateless!)).result);
    expect((await resume(ports.stateless!, ports.stateless!, "-tls1_2")).result).toBe("New");
    const timed = await resume(ports.timeout!, ports.timeout!, "-tls1_2");
    expect(timed.result).toBe("Reused");
    expect(timed.out).toContain("lifetime hint: 77 (seconds)");
  });

  test("upstream: a new connection resumes the last session (max_session_keys 1); max_session_keys 0 does not", async () => {
    for (let i = 0; i < 3; i++) {
      expect(await (await fetch(`http://127.0.0.1:${ports.reuse}/`)).text()).toBe("upstream ok");
      expect(await (await fetch(`http://127.0.0.1:${ports.noReuse}/`)).text()).toBe("upstream ok");
    }
    const stats = await adminStats(ports.admin!);
    expect(stats.get("cluster.reuse.ssl.handshake")).toBe(3);
    expect(stats.get("cluster.reuse.ssl.session_reused")).toBe(2);
    expect(stats.get("cluster.no_reuse.ssl.session_reused")).toBe(0);
  });
});

describe.each(RUNTIMES)("session settings checked on %s", (runtime) => {
  test("a key that is not 80 bytes, several keys, and session_ticket_keys with disable_stateless_session_resumption", async () => {
    const short = join(dir, "short.key");
    writeFileSync(short, randomBytes(48));
    const one = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [tlsListener("a", await freePort(), { session_ticket_keys: { keys: [{ filename: short }] } })] } })]);
    expect(one.code).not.toBe(0);
    expect(one.stderr).toContain("Incorrect TLS session ticket key length. Length 48, expected length 80.");
    if (runtime === "node") {
      const two = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [tlsListener("a", await freePort(), { session_ticket_keys: { keys: [{ filename: keyFile }, { inline_bytes: keyBase64 }] } })] } })]);
      expect(two.code).not.toBe(0);
      expect(two.stderr).toContain("session_ticket_keys: only one key is supported");
    }
    const both = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig({ static_resources: { listeners: [tlsListener("a", 1, { ...TICKET_KEYS(), disable_stateless_session_resumption: true })] } })]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("set session_ticket_keys or disable_stateless_session_resumption, not both");
  });
});
