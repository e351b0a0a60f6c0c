/**
 * What user filters get besides the filter contract (core/http/user-filter/http-call.ts,
 * user-filter-stats.ts): stream.httpCall through the cluster manager, its failures, and
 * stream.stats — in a proxy on the memory runtime.
 */
import { afterEach, describe, expect, test } from "vitest";
import { defineHttpFilter, type HttpFilterDefinition } from "../../core/http/user-filter/http-filter-api.ts";
import { registerHttpFilter, unregisterHttpFilter } from "../../core/http/user-filter/user-filter-registry.ts";
import type { HttpCallError } from "../../core/http/user-filter/http-call.ts";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

let proxy: FilterProxy | undefined;
const registered: string[] = [];
afterEach(() => {
  proxy?.close();
  proxy = undefined;
  for (const name of registered.splice(0)) unregisterHttpFilter(name);
});

function register(definition: HttpFilterDefinition): void {
  registerHttpFilter(definition);
  registered.push(definition.name!);
}

const header = (headers: readonly [string, string][], name: string) => headers.find(([n]) => n === name)?.[1];

/** What a promise settled to, as one line. */
const outcome = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => "ok",
    (err: HttpCallError | Error) => ("reason" in err ? `${err.name} ${err.reason}` : `${err.name}: ${err.message}`),
  );

describe("stream.httpCall", () => {
  test("a request to a cluster through its pool: method, path, headers, body sent; status, headers and body back", async () => {
    register(
      defineHttpFilter({
        name: "test.caller",
        create: () => ({
          async decodeHeaders(headers, _endStream, stream) {
            const answer = await stream.httpCall("backend", { method: "POST", path: "/check", headers: { "X-Asked": "1" }, body: "héllo" }, { timeout: 1000 });
            headers.set("x-call", `${answer.status} ${answer.text()} ${answer.details === "" ? "upstream" : answer.details}`);
          },
        }),
      }),
    );
    proxy = await filterProxy([{ name: "test.caller" }]);
    expect((await proxy.request("GET", "/x")).status).toBe(200);
    const [check, forwarded] = proxy.upstreamRequests;
    // Sent as UTF-8 (the memory upstream reads its bytes as Latin-1).
    expect(check).toMatchObject({ path: "/check", body: "h\xc3\xa9llo" });
    expect(header(check!.headers, "x-asked")).toBe("1");
    expect(header(check!.headers, "host")).toBe("backend");
    expect(header(forwarded!.headers, "x-call")).toBe("200 from upstream upstream");
  });

  test("failures: an unknown cluster, a body over maxResponseBytes, a bad header or path reject; no healthy host is a 503 response", async () => {
    register(
      defineHttpFilter({
        name: "test.failing_caller",
        create: () => ({
          async decodeHeaders(headers, _endStream, stream) {
            const results = [
              await outcome(stream.httpCall("nope", { path: "/" })),
              await outcome(stream.httpCall("backend", { path: "/" }, { maxResponseBytes: 4 })),
              await outcome(stream.httpCall("backend", { path: "/", headers: { "x-bad": "a\r\nb" } })),
              await outcome(stream.httpCall("backend", { path: "no-slash" })),
              await outcome(stream.httpCall("backend", { path: "/" }, { timeout: -1 })),
              String((await stream.httpCall("down", { path: "/" })).status),
            ];
            headers.set("x-results", results.join("; "));
          },
        }),
      }),
    );
    proxy = await filterProxy([{ name: "test.failing_caller" }], { clusters: { down: [] } });
    await proxy.request("GET", "/");
    const forwarded = proxy.upstreamRequests.find((r) => r.path === "/" && header(r.headers, "x-results") !== undefined)!;
    expect(header(forwarded.headers, "x-results")).toBe(
      [
        "HttpCallError unknown_cluster",
        "HttpCallError exceed_response_buffer_limit",
        'TypeError: httpCall: bad header "x-bad"',
        'TypeError: httpCall: request.path must start with "/", not "no-slash"',
        "TypeError: httpCall: timeout must be a positive number of ms, not -1",
        "503",
      ].join("; "),
    );
  });
});

describe("stream.stats", () => {
  test("counters, gauges and histograms under http.<stat_prefix>.<filter name>.; bad, reserved and conflicting names throw", async () => {
    const problems: string[] = [];
    register(
      defineHttpFilter({
        name: "test.counting",
        create: () => ({
          decodeHeaders(_headers, _endStream, stream) {
            stream.stats.counter("requests").inc();
            stream.stats.gauge("level").set(7);
            stream.stats.histogram("size", "bytes").record(100);
            for (const bad of ["", "a..b", "sp ace", "errors"]) {
              try {
                stream.stats.counter(bad);
              } catch (err) {
                problems.push((err as Error).message);
              }
            }
            try {
              stream.stats.gauge("requests");
            } catch (err) {
              problems.push((err as Error).message);
            }
          },
        }),
      }),
    );
    proxy = await filterProxy([{ name: "counter", typed_config: { "@type": "type.googleapis.com/test.counting" } }]);
    await proxy.request("GET", "/");
    await proxy.request("GET", "/");
    expect(proxy.counter("http.ingress_http.counter.requests")).toBe(2);
    expect(proxy.counter("http.ingress_http.counter.level")).toBe(7);
    expect(proxy.server.stats.get("http.ingress_http.counter.size")).toMatchObject({ unit: "bytes" });
    expect(problems.slice(0, 5)).toEqual([
      `stats: bad stat name "" (letters, digits, '_' and '-', in segments joined by '.')`,
      `stats: bad stat name "a..b" (letters, digits, '_' and '-', in segments joined by '.')`,
      `stats: bad stat name "sp ace" (letters, digits, '_' and '-', in segments joined by '.')`,
      "stats: 'errors' is the filter's own stat",
      "stats: 'requests' is a counter, not a gauge",
    ]);
  });
});
