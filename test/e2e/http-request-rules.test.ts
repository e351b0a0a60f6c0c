/**
 * The HCM's request rules (issue #32 protections) against the real proxy on every
 * runtime: normalize_path, merge_slashes and path_with_escaped_slashes_action decide the
 * route and the path the upstream gets; headers_with_underscores_action drops or refuses;
 * max_requests_per_connection closes a connection after its Nth request (downstream) or
 * retires it (upstream); max_stream_duration cuts a stream that lasts too long;
 * max_connection_duration drains a connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** /admin is answered 403 by the proxy itself; the rest goes to the upstream. */
const ROUTES = [
  { match: { prefix: "/admin" }, action: { direct_response: { status: 403 } } },
  { match: { prefix: "/" }, cluster: "echo" },
];

/** One GET on a new connection; `close` asks for the connection to close after it (so the answer comes at once). */
async function get(
  port: number,
  target: string,
  headers = "",
  close = true,
  ms = 1500,
): Promise<{ status: number; headers: Record<string, string>; body: string; closed: boolean }> {
  const connection = close ? "Connection: close\r\n" : "";
  const { text, closed } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${connection}${headers}\r\n`, ms);
  const [response] = parseResponses(text);
  expect(response, `a response to ${target}: ${JSON.stringify(text)}`).toBeDefined();
  return { ...response!, closed };
}

describe.each(RUNTIMES)("HCM request rules on %s", (runtime) => {
  let echo: HttpUpstream;
  /** The strict proxy's upstream (its cluster retires connections after two requests). */
  let echo2: HttpUpstream;
  let lenient: ProxyProcess;
  let strict: ProxyProcess;
  const ports = { lenient: 0, strict: 0, admin: 0 };

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`${req.url} ${req.headers["my_header"] ?? "-"}`));
    // /slow is never answered.
    echo2 = await httpUpstream((req, res) => (req.url === "/slow" ? undefined : res.end(`${req.url} ${req.headers["my_header"] ?? "-"}`)));
    ports.lenient = await freePort();
    ports.strict = await freePort();
    ports.admin = await freePort();
    const base = (listenPort: number, hcm: Record<string, unknown>) => httpProxyConfig({ listenPort, clusters: { echo: [echo.port] }, routes: ROUTES, hcm });
    lenient = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      ...base(ports.lenient, {
        normalize_path: true,
        merge_slashes: true,
        path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT",
        common_http_protocol_options: { headers_with_underscores_action: "DROP_HEADER", max_requests_per_connection: 2 },
      }),
    });
    strict = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: ports.strict,
        clusters: { echo: [echo2.port] },
        routes: ROUTES,
        clusterExtra: { max_requests_per_connection: 2 },
        hcm: {
          path_with_escaped_slashes_action: "REJECT_REQUEST",
          common_http_protocol_options: { headers_with_underscores_action: "REJECT_REQUEST", max_stream_duration: "1s", max_connection_duration: "1s" },
        },
      }),
    );
  });

  afterAll(async () => {
    await lenient?.stop("SIGKILL");
    await strict?.stop("SIGKILL");
    await echo?.close();
    await echo2?.close();
  });

  test("normalize_path and merge_slashes: routed on the normalized path, which the upstream gets", async () => {
    expect((await get(ports.lenient, "/public/../admin")).status).toBe(403);
    expect((await get(ports.lenient, "/public/%2e%2e//admin")).status).toBe(403);
    const forwarded = await get(ports.lenient, "//a/./b/..//%63?q=/../x");
    expect(forwarded).toMatchObject({ status: 200, body: "/a/c?q=/../x -" });
    // Without the rules the same request is forwarded as sent.
    expect(await get(ports.strict, "/public/../admin")).toMatchObject({ status: 200, body: "/public/../admin -" });
    expect((await get(ports.lenient, "/a/%00")).status).toBe(400);
  });

  test("path_with_escaped_slashes_action: 307 to the unescaped path, or 400", async () => {
    const redirect = await get(ports.lenient, "/a%2F..%2Fadmin?x=1");
    expect(redirect.status).toBe(307);
    expect(redirect.headers["location"]).toBe("/admin?x=1");
    expect((await get(ports.strict, "/a%2fb")).status).toBe(400);
    expect(await get(ports.strict, "/a/b?c=%2f")).toMatchObject({ status: 200, body: "/a/b?c=%2f -" });
  });

  test("headers_with_underscores_action: DROP_HEADER forwards without them, REJECT_REQUEST answers 400 and closes", async () => {
    expect(await get(ports.lenient, "/x", "my_header: 1\r\n")).toMatchObject({ status: 200, body: "/x -" });
    const refused = await get(ports.strict, "/x", "my_header: 1\r\n", false);
    expect(refused).toMatchObject({ status: 400, body: "Bad Request", closed: true });
    expect(await get(ports.strict, "/x", "my-header: 1\r\n")).toMatchObject({ status: 200 });
  });

  test("max_requests_per_connection: the second response closes the connection", async () => {
    const pipelined = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3);
    const { text, closed } = await rawExchange(ports.lenient, pipelined, 3000);
    const responses = parseResponses(text);
    expect(responses.map((r) => [r.status, r.headers["connection"]])).toEqual([
      [200, undefined],
      [200, "close"],
    ]);
    expect(closed).toBe(true);
    // Without the limit, all three are answered on one connection.
    expect(parseResponses((await rawExchange(ports.strict, pipelined, 1500)).text)).toHaveLength(3);
  });

  test("cluster max_requests_per_connection: no upstream connection carries more than two requests", async () => {
    for (let i = 0; i < 4; i++) expect((await get(ports.strict, `/n${i}`)).status).toBe(200);
    const perConnection = new Map<number, number>();
    for (const r of echo2.requests) perConnection.set(r.connection, (perConnection.get(r.connection) ?? 0) + 1);
    expect(echo2.requests.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...perConnection.values())).toBe(2);
  });

  test("max_stream_duration: a request with no response in time gets 504", async () => {
    const started = Date.now();
    const slow = await get(ports.strict, "/slow", "", true, 5000);
    expect(slow).toMatchObject({ status: 504, body: "downstream duration timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("max_connection_duration: a connection is drained, and the next request on it is its last", async () => {
    const socket = net.connect({ port: ports.strict, host: "127.0.0.1" });
    socket.on("error", () => {});
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    const ended = new Promise<void>((r) => socket.once("close", () => r()));
    await new Promise((r) => socket.once("connect", r));
    socket.write("GET /d1 HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 1500));
    socket.write("GET /d2 HTTP/1.1\r\nHost: x\r\n\r\n");
    await ended;
    expect(parseResponses(text).map((r) => [r.body, r.headers["connection"]])).toEqual([
      ["/d1 -", undefined],
      ["/d2 -", "close"],
    ]);
  });

  test("stats", async () => {
    const res = await request(`http://127.0.0.1:${ports.admin}/stats?filter=path|underscore`);
    const text = await res.body.text();
    expect(text).toMatch(/^http\.ingress_http\.downstream_rq_failed_path_normalization: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.downstream_rq_redirected_with_normalized_path: [1-9]/m);
    expect(text).toMatch(/^http1\.dropped_headers_with_underscores: [1-9]/m);
    const cx = await (await request(`http://127.0.0.1:${ports.admin}/stats?filter=max_requests`)).body.text();
    expect(cx).toMatch(/^http\.ingress_http\.downstream_cx_max_requests_reached: [1-9]/m);
  });
});
