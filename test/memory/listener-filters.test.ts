/**
 * Listener filters and filter chain selection on the memory runtime: tls_inspector
 * passthrough by SNI to tcp_proxy (the peeked ClientHello reaches the upstream whole),
 * proxy_protocol (the header drained, its source used for chain matching and
 * x-forwarded-for), http_inspector, no_filter_chain_match, listener_filters_timeout, and
 * Envoy's stats for each.
 */
import { describe, expect, test } from "vitest";
import type { CloseReason, Socket, SocketHandler } from "../../core/port.ts";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { clientHelloMessage, clientHelloRecords } from "../support/tls-client-hello.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const LISTENER = "listener.127.0.0.1_10000.";
const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

class Peer implements SocketHandler {
  received = "";
  bytes: number[] = [];
  closed: CloseReason | undefined;
  ended = false;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.received += decoder.decode(data);
    this.bytes.push(...data);
  }
  onEnd(): void {
    this.ended = true;
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = reason;
  }
  /** The proxy closed it (its FIN, or the close itself). */
  get shut(): boolean {
    return this.ended || this.closed !== undefined;
  }
}

const tcpProxy = (cluster: string) => ({
  name: "envoy.filters.network.tcp_proxy",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: cluster, cluster },
});

const cluster = (name: string, port: number) => ({
  name,
  connect_timeout: "1s",
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
});

interface Setup {
  runtime: MemoryRuntime;
  server: Server;
  /** Connections each upstream port accepted. */
  upstreams: Map<number, Peer[]>;
  connect(): Peer;
  stat(name: string): number | undefined;
}

/** A listener on 10000 with these listener filters and chains, each chain a tcp_proxy to its own upstream (8001, 8002, …). */
async function setup(listener: { listener_filters?: object[]; chains: (object | undefined)[]; default?: boolean; extra?: object; address?: string; sourceAddress?: string }): Promise<Setup> {
  const runtime = new MemoryRuntime({ seed: 5, ...(listener.sourceAddress && { sourceAddress: listener.sourceAddress }) });
  const upstreams = new Map<number, Peer[]>();
  const clusters: object[] = [];
  const chains = listener.chains.map((match, i) => {
    const port = 8001 + i;
    clusters.push(cluster(`c${i + 1}`, port));
    return { ...(match ? { filter_chain_match: match } : {}), filters: [tcpProxy(`c${i + 1}`)] };
  });
  if (listener.default) clusters.push(cluster("dflt", 8999));
  for (const port of [...chains.keys()].map((i) => 8001 + i).concat(listener.default ? [8999] : [])) {
    upstreams.set(port, []);
    await runtime.listen({ address: "127.0.0.1", port }, (socket) => upstreams.get(port)!.push(new Peer(socket)));
  }
  const config = {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: listener.address ?? "127.0.0.1", port_value: PROXY } },
          ...(listener.listener_filters ? { listener_filters: listener.listener_filters } : {}),
          filter_chains: chains,
          ...(listener.default ? { default_filter_chain: { filters: [tcpProxy("dflt")] } } : {}),
          ...listener.extra,
        },
      ],
      clusters,
    },
  };
  const server = await startProxy(runtime, config);
  return {
    runtime,
    server,
    upstreams,
    connect: () => new Peer(runtime.connect({ address: listener.sourceAddress?.startsWith("::ffff:") ? "::ffff:127.0.0.1" : "127.0.0.1", port: PROXY })),
    stat: (name) => (server.stats.get(name) as { value: number } | undefined)?.value,
  };
}

const TLS_INSPECTOR = { name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } };
const HTTP_INSPECTOR = { name: "envoy.filters.listener.http_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector" } };
const proxyProtocol = (config: object = {}) => ({
  name: "envoy.filters.listener.proxy_protocol",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", ...config },
});

const received = (s: Setup, port: number) => s.upstreams.get(port)!.map((p) => p.received);

describe("tls_inspector: TLS passthrough by SNI", () => {
  const sniChains = { listener_filters: [TLS_INSPECTOR], chains: [{ server_names: ["a.example.com"] }, { server_names: ["*.example.com"] }, { transport_protocol: "raw_buffer" }] };

  test("each SNI goes to its chain's upstream, which gets the ClientHello byte for byte", async () => {
    const s = await setup(sniChains);
    const helloA = clientHelloRecords({ serverName: "A.example.com", alpn: ["h2"] });
    const helloB = clientHelloRecords({ serverName: "b.example.com" });
    s.connect().socket.write(helloA);
    s.connect().socket.write(helloB);
    s.runtime.runUntilIdle();
    expect(s.upstreams.get(8001)!.map((p) => p.bytes)).toEqual([[...helloA]]);
    expect(s.upstreams.get(8002)!.map((p) => p.bytes)).toEqual([[...helloB]]);
    expect([s.stat("tls_inspector.tls_found"), s.stat("tls_inspector.sni_found"), s.stat("tls_inspector.alpn_found"), s.stat("tls_inspector.alpn_not_found")]).toEqual([2, 2, 1, 1]);
  });

  test("a ClientHello that arrives a few bytes at a time, in 1-byte records, is routed the same, nothing lost", async () => {
    const s = await setup(sniChains);
    const hello = clientHelloRecords({ serverName: "a.example.com", recordSize: 1 });
    const client = s.connect();
    for (let at = 0; at < hello.length; at += 3) {
      client.socket.write(hello.subarray(at, at + 3));
      // runDue, not runUntilIdle: that would run the clock on to listener_filters_timeout.
      s.runtime.runDue();
    }
    client.socket.write(encoder.encode("after"));
    s.runtime.runUntilIdle();
    expect(s.upstreams.get(8001)!.map((p) => p.bytes)).toEqual([[...hello, ...encoder.encode("after")]]);
  });

  test("plain text is raw_buffer (tls_not_found) and keeps its bytes", async () => {
    const s = await setup(sniChains);
    s.connect().socket.write(encoder.encode("hello plain"));
    s.runtime.runUntilIdle();
    expect(received(s, 8003)).toEqual(["hello plain"]);
    expect(s.stat("tls_inspector.tls_not_found")).toBe(1);
  });

  test("no chain for the SNI and no default: closed, listener.<addr>.no_filter_chain_match", async () => {
    const s = await setup({ listener_filters: [TLS_INSPECTOR], chains: [{ server_names: ["a.example.com"] }] });
    const client = s.connect();
    client.socket.write(clientHelloRecords({ serverName: "other.org" }));
    s.runtime.runUntilIdle();
    expect(client.shut).toBe(true);
    expect(s.stat(`${LISTENER}no_filter_chain_match`)).toBe(1);
    expect(s.stat(`${LISTENER}downstream_cx_total`)).toBe(0);
    client.socket.close();
    s.runtime.runUntilIdle();
    expect([...s.runtime.openSockets]).toEqual([]);
  });

  test("…with default_filter_chain, that chain", async () => {
    const s = await setup({ listener_filters: [TLS_INSPECTOR], chains: [{ server_names: ["a.example.com"] }], default: true });
    s.connect().socket.write(clientHelloRecords({ serverName: "other.org" }));
    s.runtime.runUntilIdle();
    expect(s.upstreams.get(8999)!.length).toBe(1);
  });

  test("a ClientHello in 1-byte records still unfinished at the limit: closed, client_hello_too_large", async () => {
    const s = await setup(sniChains);
    const client = s.connect();
    const records = new Uint8Array(6 * 11_000);
    for (let at = 0, i = 0; at < records.length; at += 6, i++) records.set([22, 3, 1, 0, 1, [1, 0, 0x40, 0][i] ?? 0], at);
    client.socket.write(records);
    s.runtime.runUntilIdle();
    expect(client.shut).toBe(true);
    expect(s.stat("tls_inspector.client_hello_too_large")).toBe(1);
    expect(s.upstreams.get(8001)!.length + s.upstreams.get(8002)!.length + s.upstreams.get(8003)!.length).toBe(0);
  });

  /** A ClientHello whose handshake body is `bodyLength` bytes (padding, RFC 7685), in records of at most 16 KiB. */
  const helloOfBodyLength = (bodyLength: number): Uint8Array => {
    const base = clientHelloMessage({ serverName: "a.example.com", extensions: [[21, new Uint8Array(0)]] }).length - 4;
    return clientHelloRecords({ serverName: "a.example.com", extensions: [[21, new Uint8Array(bodyLength - base)]], recordSize: 16384 });
  };

  test("a ClientHello still unfinished at 16 KiB (Envoy's TLS_MAX_CLIENT_HELLO): closed, client_hello_too_large", async () => {
    const s = await setup(sniChains);
    const client = s.connect();
    // A 16 KiB body takes two records: 16,398 bytes, of which 16,390 are sent.
    client.socket.write(helloOfBodyLength(16384).subarray(0, 16390));
    s.runtime.runDue();
    expect(client.shut).toBe(true);
    expect([s.stat("tls_inspector.client_hello_too_large"), s.stat(`${LISTENER}downstream_pre_cx_timeout`)]).toEqual([1, 0]);
  });

  test("max_client_hello_size: a longer hello is closed (client_hello_too_large), a shorter one routed", async () => {
    const inspector = { ...TLS_INSPECTOR, typed_config: { ...TLS_INSPECTOR.typed_config, max_client_hello_size: 1024 } };
    const s = await setup({ ...sniChains, listener_filters: [inspector] });
    const big = s.connect();
    big.socket.write(helloOfBodyLength(2000));
    s.connect().socket.write(helloOfBodyLength(900));
    s.runtime.runDue();
    expect(big.shut).toBe(true);
    expect(s.stat("tls_inspector.client_hello_too_large")).toBe(1);
    expect(s.upstreams.get(8001)!.length).toBe(1);
  });

  test("max_client_hello_size at its edge: a hello of exactly that many bytes is routed, one byte more is closed", async () => {
    const inspector = { ...TLS_INSPECTOR, typed_config: { ...TLS_INSPECTOR.typed_config, max_client_hello_size: 1024 } };
    const s = await setup({ ...sniChains, listener_filters: [inspector] });
    // One record: 5 bytes of record header and 4 of handshake header around the body.
    const exact = helloOfBodyLength(1024 - 9);
    const over = helloOfBodyLength(1024 - 8);
    expect([exact.length, over.length]).toEqual([1024, 1025]);
    const overClient = s.connect();
    overClient.socket.write(over);
    s.connect().socket.write(exact);
    s.runtime.runDue();
    expect(overClient.shut).toBe(true);
    expect(s.stat("tls_inspector.client_hello_too_large")).toBe(1);
    expect(s.upstreams.get(8001)!.length).toBe(1);
  });

  test("a record header claiming more than 16 KiB but no more than BoringSSL's encrypted maximum: waited on, so closed at the limit as client_hello_too_large (not taken for plain text)", async () => {
    const s = await setup(sniChains);
    const client = s.connect();
    const bytes = new Uint8Array(16384);
    bytes.set([22, 3, 1, 17000 >> 8, 17000 & 0xff, 1]);
    client.socket.write(bytes);
    s.runtime.runDue();
    expect(client.shut).toBe(true);
    expect([s.stat("tls_inspector.client_hello_too_large"), s.stat("tls_inspector.tls_not_found")]).toEqual([1, 0]);
    expect(received(s, 8003)).toEqual([]);
  });

  test("close_connection_on_client_hello_parsing_errors: plain text is closed, not raw_buffer (no tls_not_found)", async () => {
    const inspector = { ...TLS_INSPECTOR, typed_config: { ...TLS_INSPECTOR.typed_config, close_connection_on_client_hello_parsing_errors: true } };
    const s = await setup({ ...sniChains, listener_filters: [inspector] });
    const plain = s.connect();
    plain.socket.write(encoder.encode("hello plain"));
    s.connect().socket.write(clientHelloRecords({ serverName: "a.example.com" }));
    s.runtime.runDue();
    expect(plain.shut).toBe(true);
    expect(received(s, 8003)).toEqual([]);
    expect([s.stat("tls_inspector.tls_not_found"), s.stat("tls_inspector.tls_found")]).toEqual([0, 1]);
    expect(s.upstreams.get(8001)!.length).toBe(1);
  });

  test("the peer closing before the hello is complete: downstream_listener_filter_remote_close", async () => {
    const s = await setup(sniChains);
    const client = s.connect();
    client.socket.write(clientHelloRecords({ serverName: "a.example.com" }).subarray(0, 20));
    s.runtime.runDue();
    client.socket.close();
    s.runtime.runUntilIdle();
    expect(s.stat(`${LISTENER}downstream_listener_filter_remote_close`)).toBe(1);
    expect(s.stat(`${LISTENER}downstream_pre_cx_active`)).toBe(0);
  });
});

describe("filter_chain_match on a dual-stack listener", () => {
  // A listener on :: takes IPv4 clients as ::ffff:a.b.c.d; Envoy reads such addresses as
  // the IPv4 ones (Address::addressFromSockAddr with v6only false), so IPv4 ranges and
  // SAME_IP_OR_LOOPBACK match them.
  test("an IPv4-mapped peer and local address match IPv4 ranges and are loopback", async () => {
    const s = await setup({
      address: "::",
      sourceAddress: "::ffff:127.0.0.1",
      chains: [{ prefix_ranges: [{ address_prefix: "127.0.0.1", prefix_len: 32 }], source_type: "SAME_IP_OR_LOOPBACK", source_prefix_ranges: [{ address_prefix: "127.0.0.0", prefix_len: 8 }] }, {}],
    });
    s.connect().socket.write(encoder.encode("mapped"));
    s.runtime.runUntilIdle();
    expect([received(s, 8001), received(s, 8002)]).toEqual([["mapped"], []]);
  });

  test("the connection's addresses are the IPv4 ones (access logs), as Envoy's", async () => {
    const log = { name: "envoy.access_loggers.file", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS%\n" } } } };
    const s = await setup({ address: "::", sourceAddress: "::ffff:127.0.0.1", chains: [{}], extra: { access_log: [log] } });
    const client = s.connect();
    client.socket.write(encoder.encode("x"));
    s.runtime.runUntilIdle();
    client.socket.close();
    for (const peer of s.upstreams.get(8001)!) peer.socket.close();
    s.runtime.runUntilIdle();
    expect(s.runtime.stdoutText).toBe("127.0.0.1 127.0.0.1:10000\n");
  });

  test("…also for a connection no chain takes (no listener filter looked at it): the listener's access log", async () => {
    const log = { name: "envoy.access_loggers.file", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS% %RESPONSE_FLAGS%\n" } } } };
    const s = await setup({ address: "::", sourceAddress: "::ffff:127.0.0.1", chains: [{ destination_port: 1 }], extra: { access_log: [log] } });
    s.connect().socket.write(encoder.encode("x"));
    s.runtime.runUntilIdle();
    expect(s.runtime.stdoutText).toBe("127.0.0.1 127.0.0.1:10000 NR\n");
  });
});

describe("proxy_protocol", () => {
  test("v1: the header is drained, the rest reaches the upstream, and the PROXY source selects the chain", async () => {
    const s = await setup({ listener_filters: [proxyProtocol()], chains: [{ source_prefix_ranges: [{ address_prefix: "192.0.2.0", prefix_len: 24 }] }, {}] });
    s.connect().socket.write(encoder.encode("PROXY TCP4 192.0.2.1 198.51.100.7 56324 10000\r\npayload"));
    s.connect().socket.write(encoder.encode("PROXY TCP4 203.0.113.5 198.51.100.7 56324 10000\r\nother"));
    s.runtime.runUntilIdle();
    expect(received(s, 8001)).toEqual(["payload"]);
    expect(received(s, 8002)).toEqual(["other"]);
    expect(s.stat("proxy_proto.versions.v1.found")).toBe(2);
  });

  test("v2, with the destination port it carries matched by destination_port", async () => {
    const s = await setup({ listener_filters: [proxyProtocol({ stat_prefix: "edge" })], chains: [{ destination_port: 443 }, {}] });
    const header = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb];
    s.connect().socket.write(new Uint8Array([...header, ...encoder.encode("v2 body")]));
    s.runtime.runUntilIdle();
    expect(received(s, 8001)).toEqual(["v2 body"]);
    expect(s.stat("proxy_proto.edge.versions.v2.found")).toBe(1);
  });

  test("v2 with TLVs past the 216 bytes first read, arriving in one write with the payload: accepted", async () => {
    const s = await setup({ listener_filters: [proxyProtocol()], chains: [{ source_prefix_ranges: [{ address_prefix: "192.0.2.0", prefix_len: 24 }] }, {}] });
    // A 1000-byte PP2_TYPE_AUTHORITY TLV (a load balancer's; HAProxy's PP2_TYPE_SSL ones are as long).
    const tlvLength = 1000;
    const length = 12 + 3 + tlvLength;
    const header = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, length >> 8, length & 0xff, 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb];
    const tlv = [0x02, tlvLength >> 8, tlvLength & 0xff, ...new Array<number>(tlvLength).fill(0x61)];
    s.connect().socket.write(new Uint8Array([...header, ...tlv, ...encoder.encode("after the TLVs")]));
    s.runtime.runUntilIdle();
    expect(received(s, 8001)).toEqual(["after the TLVs"]);
    expect([s.stat("proxy_proto.versions.v2.found"), s.stat(`${LISTENER}downstream_listener_filter_error`)]).toEqual([1, 0]);
  });

  test("no header: closed (not_found_disallowed), or passed on with allow_requests_without_proxy_protocol", async () => {
    const strict = await setup({ listener_filters: [proxyProtocol()], chains: [{}] });
    const client = strict.connect();
    client.socket.write(encoder.encode("GET / HTTP/1.1\r\n\r\n"));
    strict.runtime.runUntilIdle();
    expect(client.shut).toBe(true);
    expect([strict.stat("proxy_proto.not_found_disallowed"), strict.stat("downstream_cx_proxy_proto_error")]).toEqual([1, 1]);

    const lenient = await setup({ listener_filters: [proxyProtocol({ allow_requests_without_proxy_protocol: true })], chains: [{}] });
    lenient.connect().socket.write(encoder.encode("GET / HTTP/1.1\r\n\r\n"));
    lenient.runtime.runUntilIdle();
    expect(received(lenient, 8001)).toEqual(["GET / HTTP/1.1\r\n\r\n"]);
    expect(lenient.stat("proxy_proto.not_found_allowed")).toBe(1);
  });

  test("a malformed header: closed, versions.v1.error; a disallowed version: versions.v2.disallowed", async () => {
    const s = await setup({ listener_filters: [proxyProtocol({ disallowed_versions: ["V2"] })], chains: [{}] });
    const bad = s.connect();
    bad.socket.write(encoder.encode("PROXY TCP4 1.2.3.4 nope 1 2\r\n"));
    const v2 = s.connect();
    v2.socket.write(new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0, 0]));
    s.runtime.runUntilIdle();
    expect([bad.shut, v2.shut]).toEqual([true, true]);
    expect([s.stat("proxy_proto.versions.v1.error"), s.stat("proxy_proto.versions.v2.disallowed")]).toEqual([1, 1]);
  });

  test("listener_filters_timeout: a header that never comes is closed after 15 s (downstream_pre_cx_timeout)", async () => {
    const s = await setup({ listener_filters: [proxyProtocol()], chains: [{}] });
    const client = s.connect();
    client.socket.write(encoder.encode("PROXY TCP4"));
    s.runtime.advance(14_000);
    expect(client.shut).toBe(false);
    s.runtime.advance(1_001);
    s.runtime.runUntilIdle();
    expect(client.shut).toBe(true);
    expect(s.stat(`${LISTENER}downstream_pre_cx_timeout`)).toBe(1);
  });

  test("continue_on_listener_filters_timeout: at the timeout the chain gets what was read", async () => {
    const s = await setup({ listener_filters: [proxyProtocol()], chains: [{}], extra: { listener_filters_timeout: "1s", continue_on_listener_filters_timeout: true } });
    s.connect().socket.write(encoder.encode("PROXY TCP4"));
    s.runtime.advance(1_001);
    s.runtime.runUntilIdle();
    expect(received(s, 8001)).toEqual(["PROXY TCP4"]);
  });
});

describe("http_inspector", () => {
  test("HTTP/1.1, HTTP/1.0 and the h2c preface choose chains by application_protocols", async () => {
    const s = await setup({
      listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR],
      chains: [{ application_protocols: ["http/1.1"] }, { application_protocols: ["h2c"] }, { application_protocols: ["http/1.0"] }, {}],
    });
    s.connect().socket.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    s.connect().socket.write(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    s.connect().socket.write(encoder.encode("GET / HTTP/1.0\r\n\r\n"));
    s.connect().socket.write(encoder.encode("\x01\x02 binary\n"));
    s.runtime.runUntilIdle();
    expect([received(s, 8001), received(s, 8002), received(s, 8003), received(s, 8004)]).toEqual([
      ["GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
      ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
      ["GET / HTTP/1.0\r\n\r\n"],
      ["\x01\x02 binary\n"],
    ]);
    expect([s.stat("http_inspector.http11_found"), s.stat("http_inspector.http2_found"), s.stat("http_inspector.http10_found"), s.stat("http_inspector.http_not_found")]).toEqual([1, 1, 1, 1]);
  });

  test("after tls_inspector found TLS it does not look (no stat)", async () => {
    const s = await setup({ listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR], chains: [{}] });
    s.connect().socket.write(clientHelloRecords({ serverName: "a.b" }));
    s.runtime.runUntilIdle();
    expect(s.upstreams.get(8001)!.length).toBe(1);
    expect(s.stat("http_inspector.http_not_found") ?? 0).toBe(0);
  });
});

describe("shutdown", () => {
  test("sockets still in the listener filters, and ones handed on, do not hold shutdown up", async () => {
    const s = await setup({ listener_filters: [proxyProtocol()], chains: [{}] });
    const waiting = s.connect();
    waiting.socket.write(encoder.encode("PROXY TCP4"));
    s.connect().socket.write(encoder.encode("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\r\nx"));
    s.runtime.runDue();
    let done = false;
    void s.server.shutdown().then(() => (done = true));
    await s.runtime.settle(100);
    expect(done).toBe(true);
    expect(waiting.shut).toBe(true);
    expect(s.stat(`${LISTENER}downstream_pre_cx_active`)).toBe(0);
  });
});

describe("listener access_log", () => {
  const accessLog = (format: string) => ({
    access_log: [
      {
        name: "envoy.access_loggers.file",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: { text_format_source: { inline_string: format } } },
      },
    ],
  });

  test("a line per connection when it ends, a socket no chain took (NR), and one a listener filter closed", async () => {
    const s = await setup({
      listener_filters: [proxyProtocol()],
      chains: [{ destination_port: 80 }],
      extra: accessLog("%RESPONSE_FLAGS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_CLUSTER%\n"),
    });
    const served = s.connect();
    served.socket.write(encoder.encode("PROXY TCP4 192.0.2.1 198.51.100.7 5000 80\r\nhello"));
    s.runtime.runDue();
    s.upstreams.get(8001)![0]!.socket.write(encoder.encode("reply!"));
    s.runtime.runDue();
    served.socket.close();
    s.upstreams.get(8001)![0]!.socket.close();
    s.runtime.runDue();
    s.connect().socket.write(encoder.encode("PROXY TCP4 192.0.2.2 198.51.100.7 5000 81\r\nx"));
    s.connect().socket.write(encoder.encode("nope\r\n"));
    // On to the access logs' flush timer.
    s.runtime.runUntilIdle();
    expect(s.runtime.stdoutText.split("\n").filter(Boolean).sort()).toEqual([
      "- 127.0.0.1 127.0.0.1 6 0 -",
      "- 192.0.2.1 127.0.0.1 5 6 -",
      "NR 192.0.2.2 127.0.0.1 44 0 -",
    ]);
  });
});

describe("listener fields", () => {
  test("stat_prefix names the listener's stats", async () => {
    const s = await setup({ chains: [{}], extra: { stat_prefix: "public", traffic_direction: "INBOUND" } });
    s.connect().socket.write(encoder.encode("x"));
    s.runtime.runUntilIdle();
    expect(s.stat("listener.public.downstream_cx_total")).toBe(1);
  });
});
