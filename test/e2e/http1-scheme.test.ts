/**
 * An HTTP/1 request's :scheme on every runtime, black-box, as an HTTP/2 upstream (which
 * gets :scheme on the wire) echoes it: Envoy's mutateRequestHeaders (conn_manager_utility.cc)
 * gives a request without one x-forwarded-proto's value — a trusted hop's
 * (use_remote_address with xff_num_trusted_hops), or any with use_remote_address off — and
 * the connection's otherwise; an absolute-form target's scheme stays.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** What the upstream saw: :scheme and x-forwarded-proto. */
async function seen(port: number, extra = "", target = "/"): Promise<{ scheme: string; xfp: string }> {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n${extra}\r\n`, 3000);
  const [response] = parseResponses(text);
  expect(response?.status, text).toBe(200);
  return JSON.parse(response!.body) as { scheme: string; xfp: string };
}

describe.each(RUNTIMES)("HTTP/1 :scheme from x-forwarded-proto on %s", (runtime) => {
  let upstream: http2.Http2Server;
  const proxies: ProxyProcess[] = [];
  const ports = { trusted: 0, untrusted: 0, internal: 0 };

  beforeAll(async () => {
    upstream = http2.createServer((req, res) => {
      const body = JSON.stringify({ scheme: req.headers[":scheme"], xfp: req.headers["x-forwarded-proto"] });
      res.setHeader("content-type", "application/json");
      res.setHeader("content-length", Buffer.byteLength(body));
      res.end(body);
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const start = async (hcm: Record<string, unknown>) => {
      const port = await freePort();
      const config = httpProxyConfig({
        listenPort: port,
        clusters: { h2: [upstreamPort] },
        routes: [{ match: { prefix: "/" }, cluster: "h2" }],
        hcm,
        clusterExtra: { typed_extension_protocol_options: { [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } } } },
      });
      proxies.push(await ProxyProcess.start(runtime, config));
      return port;
    };
    ports.trusted = await start({ use_remote_address: true, xff_num_trusted_hops: 1 });
    ports.untrusted = await start({ use_remote_address: true });
    ports.internal = await start({});
  });

  afterAll(async () => {
    for (const proxy of proxies) await proxy.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
  });

  test("a trusted hop's x-forwarded-proto is the scheme; an untrusted one is overwritten", async () => {
    expect(await seen(ports.trusted, "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n")).toEqual({ scheme: "https", xfp: "https" });
    expect(await seen(ports.trusted)).toEqual({ scheme: "http", xfp: "http" });
    expect(await seen(ports.untrusted, "X-Forwarded-Proto: https\r\n")).toEqual({ scheme: "http", xfp: "http" });
  });

  test("without use_remote_address the request's x-forwarded-proto stands and names the scheme; one not http(s) does not", async () => {
    expect(await seen(ports.internal, "X-Forwarded-Proto: https\r\n")).toEqual({ scheme: "https", xfp: "https" });
    expect(await seen(ports.internal, "X-Forwarded-Proto: ftp\r\n")).toEqual({ scheme: "http", xfp: "ftp" });
  });

  test("an absolute-form target's scheme is the request's; x-forwarded-proto is the connection's", async () => {
    expect(await seen(ports.untrusted, "", "https://example.com/")).toEqual({ scheme: "https", xfp: "http" });
  });
});
