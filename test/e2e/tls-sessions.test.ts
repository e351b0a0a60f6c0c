/**
 * TLS session resumption on every runtime, black-box with `openssl s_client -sess_out /
 * -sess_in` (its "Reused" line): the default (tickets), session_ticket_keys shared by two
 * listeners (node), disable_stateless_session_resumption and session_timeout (node, bun),
 * each refused by name where the runtime's node:tls ignores it; and upstream session
 * reuse (max_session_keys) counted in the cluster's ssl.session_reused.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, runToExit, type RuntimeName, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";
import { adminStats, sClient } from "../support/tls-probe.ts";
import { httpsUpstream, plainListener, type HttpsUpstream, tlsCluster, tlsListener } from "../support/tls-configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

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

/** A first connection to `first`, then one to `second` offering its session: "New" or "Reused", and the second's output. */
async function resume(first: number, second: number, version = "-tls1_3", extra: string[] = []): Promise<{ result: string; out: string; firstOut: string }> {
  const file = join(dir, `session-${Math.random().toString(36).slice(2)}`);
  const firstOut = await sClient(first, ["-servername", "example.com", version, ...extra, "-sess_out", file]);
  // TLS 1.3 without a ticket: s_client has no session to write.
  if (!existsSync(file)) return { result: "no session", out: "", firstOut };
  const out = await sClient(second, ["-servername", "example.com", version, ...extra, "-sess_in", file]);
  return { result: /^(New|Reused),/m.exec(out)?.[1] ?? `? ${out.slice(0, 400)}`, out, firstOut };
}

/** A listener serving the test's server certificate; `context`: fields of its DownstreamTlsContext. */
function sessionListener(name: string, port: number, context: Record<string, unknown>) {
  return tlsListener(name, port, { certificate: certs.server, context });
}

const TICKET_KEYS = () => ({ session_ticket_keys: { keys: [{ filename: keyFile }] } });
const TICKET_KEYS_INLINE = () => ({ session_ticket_keys: { keys: [{ inline_bytes: keyBase64 }] } });
const honours = (runtime: RuntimeName) => ({ ticketKeys: runtime === "node", settings: runtime !== "deno", sessionCache: runtime === "node" });

describe.each(RUNTIMES)("TLS session resumption on %s", (runtime) => {
  let proxy: ProxyProcess;
  let upstream: HttpsUpstream;
  const ports: Record<string, number> = {};
  const can = honours(runtime);

  beforeAll(async () => {
    // Closes each connection after its response, so each request makes a new TLS connection.
    upstream = await httpsUpstream(certs.server, "upstream ok", true);
    const upstreamPort = upstream.port;
    for (const name of ["plain", "mtls", "other", "keys1", "keys2", "stateless", "noResumption", "timeout", "reuse", "noReuse", "admin"]) ports[name] = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          sessionListener("plain", ports.plain!, {}),
          sessionListener("other", ports.other!, {}),
          tlsListener("mtls", ports.mtls!, { certificate: certs.server, context: { require_client_certificate: true }, common: { validation_context: { trusted_ca: { filename: certs.ca } } } }),
          ...(can.ticketKeys ? [sessionListener("keys1", ports.keys1!, TICKET_KEYS()), sessionListener("keys2", ports.keys2!, TICKET_KEYS_INLINE())] : []),
          ...(can.settings ? [sessionListener("stateless", ports.stateless!, { disable_stateless_session_resumption: true }),
                sessionListener("noResumption", ports.noResumption!, { disable_stateless_session_resumption: true, disable_stateful_session_resumption: true }),
                sessionListener("timeout", ports.timeout!, { session_timeout: "77s" })] : []),
          plainListener("reuse", ports.reuse!, "reuse"),
          plainListener("noReuse", ports.noReuse!, "no_reuse"),
        ],
        clusters: [tlsCluster("reuse", upstreamPort, { sni: "example.com" }), tlsCluster("no_reuse", upstreamPort, { sni: "example.com", max_session_keys: 0 })],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test("by default a session is resumed (tickets), on TLS 1.3 and 1.2, counted in ssl.session_reused", async () => {
    expect((await resume(ports.plain!, ports.plain!)).result).toBe("Reused");
    expect((await resume(ports.plain!, ports.plain!, "-tls1_2")).result).toBe("Reused");
    expect((await adminStats(ports.admin!)).get(`listener.127.0.0.1_${ports.plain}.ssl.session_reused`)).toBe(2);
  });

  test("a listener asking for client certificates resumes sessions too (its session ID context is set)", async () => {
    const client = ["-cert", certs.client.cert, "-key", certs.client.key];
    expect((await resume(ports.mtls!, ports.mtls!, "-tls1_3", client)).result).toBe("Reused");
    expect((await resume(ports.mtls!, ports.mtls!, "-tls1_2", client)).result).toBe("Reused");
  });

  test("session_ticket_keys: two listeners given one key resume each other's sessions (node; refused elsewhere)", async () => {
    if (!can.ticketKeys) {
      const r = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [sessionListener("keys1", await freePort(), TICKET_KEYS())] } })]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`session_ticket_keys cannot be honoured on ${runtime}`);
      return;
    }
    expect((await resume(ports.keys1!, ports.keys2!)).result).toBe("Reused");
    expect((await resume(ports.keys2!, ports.keys1!, "-tls1_2")).result).toBe("Reused");
    // Without shared keys, another listener cannot read the ticket.
    expect((await resume(ports.plain!, ports.other!)).result).toBe("New");
  });

  test("disable_stateless_session_resumption leaves resumption by session ID (node; Bun's TLS resumes none), disable_stateful_session_resumption turns it off too, session_timeout (node, bun; refused on deno)", async () => {
    if (!can.settings) {
      const r = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [sessionListener("s", await freePort(), { disable_stateless_session_resumption: true, session_timeout: "77s" })] } })]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`disable_stateless_session_resumption, session_timeout cannot be honoured on ${runtime}`);
      return;
    }
    // TLS 1.3: node's OpenSSL still sends a (stateful) ticket it cannot resume, Bun's BoringSSL none.
    expect(["New", "no session"]).toContain((await resume(ports.stateless!, ports.stateless!)).result);
    // TLS 1.2 without a ticket: s_client offers the session ID, which node's session cache knows.
    expect((await resume(ports.stateless!, ports.stateless!, "-tls1_2")).result).toBe(can.sessionCache ? "Reused" : "New");
    expect((await resume(ports.noResumption!, ports.noResumption!, "-tls1_2")).result).toBe("New");
    expect(["New", "no session"]).toContain((await resume(ports.noResumption!, ports.noResumption!)).result);
    const timed = await resume(ports.timeout!, ports.timeout!, "-tls1_2");
    expect(timed.result).toBe("Reused");
    // The hint comes with the ticket of the first handshake (RFC 5077 §3.3); the resumed
    // connection's own printout of the session once lacked it on bun in a CI run.
    expect(timed.firstOut).toContain("lifetime hint: 77 (seconds)");
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
    const one = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [sessionListener("a", await freePort(), { session_ticket_keys: { keys: [{ filename: short }] } })] } })]);
    expect(one.code).not.toBe(0);
    expect(one.stderr).toContain("Incorrect TLS session ticket key length. Length 48, expected length 80.");
    if (runtime === "node") {
      const two = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [sessionListener("a", await freePort(), { session_ticket_keys: { keys: [{ filename: keyFile }, { inline_bytes: keyBase64 }] } })] } })]);
      expect(two.code).not.toBe(0);
      expect(two.stderr).toContain("session_ticket_keys: only one key is supported");
    }
    const both = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig({ static_resources: { listeners: [sessionListener("a", 1, { ...TICKET_KEYS(), disable_stateless_session_resumption: true })] } })]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("set session_ticket_keys or disable_stateless_session_resumption, not both");
  });
});
