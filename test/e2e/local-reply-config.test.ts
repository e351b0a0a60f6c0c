/**
 * local_reply_config against the real proxy on every runtime: a mapper whose filter
 * admits a local reply rewrites its status, body and headers; body_format (text) and a
 * mapper's body_format_override (JSON) shape the body and its content type; upstream
 * responses are left alone.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const comparison = (op: string, value: number) => ({ op, value: { default_value: value, runtime_key: "unused.key" } });

async function get(port: number, target: string, headers = "") {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`, 3000);
  const [response] = parseResponses(text);
  expect(response, JSON.stringify(text)).toBeDefined();
  return response!;
}

describe.each(RUNTIMES)("local_reply_config on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    echo = await httpUpstream((_req, res) => {
      res.statusCode = 503;
      res.end("upstream says no");
    });
    port = await freePort();
    // Nothing listens on `dead`: a connect failure, a local 503.
    const dead = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { echo: [echo.port], dead: [dead] },
        domains: ["x"],
        routes: [
          { match: { prefix: "/dead" }, cluster: "dead" },
          { match: { prefix: "/upstream" }, cluster: "echo" },
          { match: { prefix: "/direct" }, action: { direct_response: { status: 200, body: { inline_string: "direct" } } } },
        ],
        hcm: {
          local_reply_config: {
            mappers: [
              {
                filter: { status_code_filter: { comparison: comparison("EQ", 503) } },
                status_code: 504,
                body: { inline_string: "upstream unavailable" },
                headers_to_add: [{ header: { key: "x-mapped", value: "%RESPONSE_FLAGS%" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
              },
              {
                filter: { header_filter: { header: { name: "x-json", present_match: true } } },
                body_format_override: { json_format: { code: "%RESPONSE_CODE%", message: "%LOCAL_REPLY_BODY%", path: "%REQ(:PATH)%" } },
              },
            ],
            body_format: { text_format: "[%LOCAL_REPLY_BODY%] %RESPONSE_CODE% %REQ(:PATH)%" },
          },
        },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  test("a mapper rewrites status, body and headers; body_format formats the new body", async () => {
    const reply = await get(port, "/dead");
    expect(reply.status).toBe(504);
    expect(reply.body).toBe("[upstream unavailable] 504 /dead");
    expect(reply.headers["content-type"]).toBe("text/plain");
    expect(reply.headers["x-mapped"]).toBe("UF");
  });

  test("no mapper matches: body_format alone (an empty body too)", async () => {
    const reply = await get(port, "/nowhere");
    expect(reply).toMatchObject({ status: 404, body: "[] 404 /nowhere" });
    expect(reply.headers["content-type"]).toBe("text/plain");
    expect((await get(port, "/direct")).body).toBe("[direct] 200 /direct");
  });

  test("body_format_override: a JSON body and content type", async () => {
    const reply = await get(port, "/nowhere", "X-Json: 1\r\n");
    expect(reply.status).toBe(404);
    expect(reply.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(reply.body)).toEqual({ code: 404, message: "", path: "/nowhere" });
  });

  test("an upstream's own 503 is not a local reply: left alone", async () => {
    expect(await get(port, "/upstream")).toMatchObject({ status: 503, body: "upstream says no" });
  });
});
