/**
 * Route fields against the real proxy on every runtime, each shown by its effect:
 * cluster_header and cluster_not_found_response_code, host_rewrite_header,
 * host_rewrite_path_regex, %COMMAND% operators in request_headers_to_add and
 * response_headers_to_add (with metadata read by %METADATA(ROUTE:…)%), match.grpc,
 * match.runtime_fraction, and decorator (accepted).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function get(port: number, target: string, headers = ""): Promise<Reply> {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n${headers}\r\n`, 2000);
  const [response] = parseResponses(text);
  expect(response, `a response to ${target}: ${JSON.stringify(text)}`).toBeDefined();
  return response!;
}

/** The request headers the upstream saw. */
function seen(reply: Reply): Record<string, string> {
  expect(reply.status, reply.body).toBe(200);
  return (JSON.parse(reply.body) as { headers: Record<string, string> }).headers;
}

const direct = (body: string) => ({ direct_response: { status: 200, body: { inline_string: body } } });

describe.each(RUNTIMES)("route fields on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    echo = await httpUpstream();
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { echo: [echo.port] },
        routes: [],
        virtualHosts: [
          {
            name: "front",
            domains: ["*"],
            routes: [
              { match: { prefix: "/by-header/404" }, route: { cluster_header: "x-cluster", cluster_not_found_response_code: "NOT_FOUND" } },
              { match: { prefix: "/by-header" }, route: { cluster_header: "x-cluster" } },
              { match: { prefix: "/host-header" }, route: { cluster: "echo", host_rewrite_header: "x-host" } },
              {
                match: { prefix: "/host-path/" },
                route: { cluster: "echo", host_rewrite_path_regex: { pattern: { regex: "^/host-path/([^/]+)/.*$" }, substitution: "\\1.internal" } },
              },
              {
                name: "formatted",
                match: { prefix: "/formatted" },
                decorator: { operation: "formatted-op" },
                metadata: { filter_metadata: { "acme.route": { team: "edge", weight: 3 } } },
                route: { cluster: "echo" },
                request_headers_to_add: [
                  { header: { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" } },
                  { header: { key: "x-proto", value: "%PROTOCOL% %REQ(:METHOD)%" } },
                  { header: { key: "x-echo", value: "%REQ(x-a)%" } },
                  { header: { key: "x-kept", value: "%REQ(x-a)%" }, keep_empty_value: true },
                  { header: { key: "x-percent", value: "100%%" } },
                ],
                response_headers_to_add: [
                  { header: { key: "x-upstream", value: "%UPSTREAM_REMOTE_ADDRESS%" } },
                  { header: { key: "x-start", value: "%START_TIME(%s)%" } },
                  { header: { key: "x-team", value: "%METADATA(ROUTE:acme.route:team)%/%METADATA(ROUTE:acme.route:weight)%" } },
                  { header: { key: "x-route", value: "%ROUTE_NAME% %RESP(content-type)%" } },
                ],
              },
              { match: { prefix: "/svc", grpc: {} }, ...direct("grpc") },
              { match: { prefix: "/svc" }, ...direct("not grpc") },
              { match: { prefix: "/fraction", runtime_fraction: { default_value: { numerator: 0 }, runtime_key: "routing.never" } }, ...direct("never") },
              { match: { prefix: "/fraction", runtime_fraction: { default_value: { numerator: 100 } } }, ...direct("always") },
            ],
          },
        ],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  test("cluster_header: the cluster the header names; none or unknown: 503, or cluster_not_found_response_code", async () => {
    expect((await get(port, "/by-header", "X-Cluster: echo\r\n")).status).toBe(200);
    const unknown = await get(port, "/by-header", "X-Cluster: nope\r\n");
    expect(unknown).toMatchObject({ status: 503, body: "" });
    expect((await get(port, "/by-header")).status).toBe(503);
    expect((await get(port, "/by-header/404", "X-Cluster: nope\r\n")).status).toBe(404);
    expect((await get(port, "/by-header/404", "X-Cluster: echo\r\n")).status).toBe(200);
  });

  test("host_rewrite_header: the upstream's Host is that header's value, when there is one", async () => {
    expect(seen(await get(port, "/host-header", "X-Host: rewritten.test\r\n"))["host"]).toBe("rewritten.test");
    expect(seen(await get(port, "/host-header"))["host"]).toBe("front.test");
  });

  test("host_rewrite_path_regex: the upstream's Host is the path (without its query) substituted", async () => {
    expect(seen(await get(port, "/host-path/billing/v1?q=/host-path/x/"))["host"]).toBe("billing.internal");
  });

  test("%COMMAND% header values: rendered per request; an empty one is omitted unless keep_empty_value", async () => {
    const reply = await get(port, "/formatted", "X-A: hello\r\n");
    const headers = seen(reply);
    expect(headers["x-client"]).toBe("127.0.0.1");
    expect(headers["x-proto"]).toBe("HTTP/1.1 GET");
    expect(headers["x-echo"]).toBe("hello");
    expect(headers["x-percent"]).toBe("100%");
    expect(reply.headers["x-upstream"]).toBe(`127.0.0.1:${echo.port}`);
    expect(Math.abs(Number(reply.headers["x-start"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(reply.headers["x-team"]).toBe("edge/3");
    expect(reply.headers["x-route"]).toBe("formatted application/json");
    const without = seen(await get(port, "/formatted"));
    expect(without["x-echo"]).toBeUndefined();
    expect(without["x-kept"]).toBe("");
  });

  test("match.grpc: only requests with a gRPC content-type", async () => {
    // A direct response to a gRPC request is a gRPC local reply: its body is the grpc-message.
    expect((await get(port, "/svc/M", "Content-Type: application/grpc\r\n")).headers["grpc-message"]).toBe("grpc");
    expect((await get(port, "/svc/M", "Content-Type: application/grpc+proto\r\n")).headers["grpc-message"]).toBe("grpc");
    expect((await get(port, "/svc/M", "Content-Type: application/grpc;charset=utf-8\r\n")).headers["grpc-message"]).toBe("grpc");
    expect((await get(port, "/svc/M", "Content-Type: application/grpc-web\r\n")).body).toBe("not grpc");
    expect((await get(port, "/svc/M")).body).toBe("not grpc");
  });

  test("match.runtime_fraction: default_value 0% never matches, 100% always", async () => {
    for (let i = 0; i < 5; i++) expect((await get(port, "/fraction")).body).toBe("always");
  });
});
