/**
 * HTTP filters written by users (core/http/user-filter/): registered by an embedding
 * program or loaded from a Script's module, in a proxy on the memory runtime. The
 * contract: call order, stop/continue, async callbacks, per-route config, and failures
 * kept to their stream.
 */
import { afterEach, describe, expect, test } from "vitest";
import * as z from "zod";
import { ConfigError } from "../../core/config/errors.ts";
import { FilterDataStatus, FilterHeadersStatus } from "../../core/http/filter.ts";
import { defineHttpFilter, type HttpFilterDefinition, type HttpFilterStream } from "../../core/http/user-filter/http-filter-api.ts";
import { registerHttpFilter, unregisterHttpFilter } from "../../core/http/user-filter/user-filter-registry.ts";
import { MemoryHttpClient } from "./support/http-peers.ts";
import { filterProxy, PROXY_PORT, type FilterProxy } from "./support/filter-proxy.ts";

const SCRIPT = "type.googleapis.com/polyvoy.filters.http.script.v1.Script";
const SCRIPT_PER_ROUTE = "type.googleapis.com/polyvoy.filters.http.script.v1.ScriptPerRoute";

const script = (name: string, module: string, config?: unknown) => ({ name, typed_config: { "@type": SCRIPT, module, ...(config !== undefined && { config }) } });

let proxy: FilterProxy | undefined;
const registered: string[] = [];
afterEach(() => {
  proxy?.close();
  proxy = undefined;
  for (const name of registered.splice(0)) unregisterHttpFilter(name);
});

function register<C, R>(definition: HttpFilterDefinition<C, R>): void {
  registerHttpFilter(definition);
  registered.push(definition.name!);
}

const header = (headers: readonly [string, string][], name: string) => headers.find(([n]) => n === name)?.[1];

/** A promise and its resolvers, for callbacks a test settles when it wants. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const addHeader = defineHttpFilter({
  name: "test.add_header",
  config: z.object({ header: z.string(), value: z.string() }),
  perRouteConfig: z.object({ value: z.string() }),
  create: (config) => ({
    decodeHeaders(headers, _endStream, stream) {
      headers.set(config.header, stream.perRouteConfig?.value ?? config.value);
    },
    encodeHeaders(headers) {
      headers.set("x-filtered", "yes");
    },
  }),
});

describe("registered user filters", () => {
  test("named by @type, its typed_config fields are its config (checked by its zod schema); it edits request and response", async () => {
    register(addHeader);
    proxy = await filterProxy([{ name: "adder", typed_config: { "@type": "type.googleapis.com/test.add_header", header: "x-hello", value: "world" } }]);
    const response = await proxy.request("GET", "/");
    expect(response.status).toBe(200);
    expect(header(response.headers, "x-filtered")).toBe("yes");
    expect(header(proxy.upstreamRequests[0]!.headers, "x-hello")).toBe("world");
  });

  test("named by name alone (no typed_config)", async () => {
    register(defineHttpFilter({ name: "test.bare", create: () => ({ decodeHeaders: (headers) => void headers.set("x-bare", "1") }) }));
    proxy = await filterProxy([{ name: "test.bare" }]);
    await proxy.request("GET", "/");
    expect(header(proxy.upstreamRequests[0]!.headers, "x-bare")).toBe("1");
  });

  test("a config its schema refuses is a config error at the field's path", async () => {
    register(addHeader);
    const start = filterProxy([{ name: "adder", typed_config: { "@type": "type.googleapis.com/test.add_header", header: 7, value: "v" } }]);
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(/http_filters\[0\]\.typed_config\.header: .*string/);
  });

  test("per-route config under the filter's own @type, parsed by its perRouteConfig; most specific wins", async () => {
    register(addHeader);
    const perRoute = (value: unknown) => ({ adder: { "@type": "type.googleapis.com/test.add_header", value } });
    proxy = await filterProxy([{ name: "adder", typed_config: { "@type": "type.googleapis.com/test.add_header", header: "x-v", value: "filter" } }], {
      virtualHosts: [
        {
          name: "vh",
          domains: ["*"],
          typed_per_filter_config: perRoute("vhost"),
          routes: [
            { match: { prefix: "/route" }, route: { cluster: "backend" }, typed_per_filter_config: perRoute("route") },
            { match: { prefix: "/" }, route: { cluster: "backend" } },
          ],
        },
      ],
    });
    await proxy.request("GET", "/route");
    await proxy.request("GET", "/other");
    expect(proxy.upstreamRequests.map((r) => header(r.headers, "x-v"))).toEqual(["route", "vhost"]);
  });

  test("a per-route config its schema refuses is a config error", async () => {
    register(addHeader);
    const start = filterProxy([{ name: "adder", typed_config: { "@type": "type.googleapis.com/test.add_header", header: "x-v", value: "v" } }], {
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { adder: { "@type": "type.googleapis.com/test.add_header", value: 1 } } } }],
    });
    await expect(start).rejects.toThrow(/routes\[0\]\.typed_per_filter_config\.adder\.value: /);
  });

  test("registerHttpFilter refuses a definition without create(), a reserved name, a second registration", () => {
    expect(() => registerHttpFilter({ name: "test.x" } as never)).toThrow(/create/);
    expect(() => registerHttpFilter({ name: "envoy.filters.http.mine", create: () => ({}) } as never)).toThrow(/reserved/);
    register(addHeader);
    expect(() => registerHttpFilter(addHeader as never)).toThrow(/already registered/);
  });
});

describe("Script filters (a module named in the config)", () => {
  test("the module's default export runs with the Script's config", async () => {
    proxy = await filterProxy([script("my-adder", "./filters/add.ts", { header: "x-mod", value: "42" })], { modules: { "./filters/add.ts": { default: addHeader } } });
    await proxy.request("GET", "/");
    expect(header(proxy.upstreamRequests[0]!.headers, "x-mod")).toBe("42");
  });

  test("ScriptPerRoute: its config per route; disabled turns the filter off on a route", async () => {
    proxy = await filterProxy([script("my-adder", "./add.ts", { header: "x-mod", value: "filter" })], {
      modules: { "./add.ts": { filter: addHeader } },
      routes: [
        { match: { prefix: "/off" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "my-adder": { "@type": SCRIPT_PER_ROUTE, disabled: true } } } },
        { match: { prefix: "/on" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "my-adder": { "@type": SCRIPT_PER_ROUTE, config: { value: "route" } } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    const off = await proxy.request("GET", "/off");
    await proxy.request("GET", "/on");
    await proxy.request("GET", "/x");
    expect(header(off.headers, "x-filtered")).toBeUndefined();
    expect(proxy.upstreamRequests.map((r) => header(r.headers, "x-mod"))).toEqual([undefined, "route", "filter"]);
  });

  test("a module that cannot be loaded, or exports no filter, is a config error naming the file", async () => {
    await expect(filterProxy([script("f", "./missing.ts")])).rejects.toThrow(/typed_config\.module: cannot load '\.\/missing\.ts': Cannot find module/);
    await expect(filterProxy([script("f", "./empty.ts")], { modules: { "./empty.ts": {} } })).rejects.toThrow(/'\.\/empty\.ts' exports no filter/);
    await expect(filterProxy([script("f", "./bad.ts")], { modules: { "./bad.ts": { default: { decodeHeaders() {} } } } })).rejects.toThrow(
      /'\.\/bad\.ts': the filter definition has no create\(config, stream\) function/,
    );
  });

  test("a config the module's parser function refuses is a config error at typed_config.config", async () => {
    const parsed = defineHttpFilter({
      config: (raw: unknown) => {
        if (typeof raw !== "string") throw new Error("expected a string");
        return raw;
      },
      create: () => ({}),
    });
    await expect(filterProxy([script("f", "./p.ts", 5)], { modules: { "./p.ts": { default: parsed } } })).rejects.toThrow(/http_filters\[0\]\.typed_config\.config: expected a string/);
  });

  test("per-route config for a name that is no user filter is a config error", async () => {
    const start = filterProxy([script("f", "./add.ts", { header: "x", value: "y" })], {
      modules: { "./add.ts": { default: addHeader } },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { other: { "@type": SCRIPT_PER_ROUTE, disabled: true } } } }],
    });
    await expect(start).rejects.toThrow(/typed_per_filter_config\.other: no user filter named "other"/);
  });
});

describe("the filter contract", () => {
  test("decode callbacks in http_filters order, encode callbacks in reverse; onDestroy once each", async () => {
    const calls: string[] = [];
    const recorder = (tag: string) =>
      defineHttpFilter({
        create: () => ({
          decodeHeaders: () => void calls.push(`${tag}.decodeHeaders`),
          // The codec may end a body with an empty chunk: only chunks with bytes are recorded.
          decodeData: (data) => void (data.byteLength > 0 && calls.push(`${tag}.decodeData`)),
          encodeHeaders: () => void calls.push(`${tag}.encodeHeaders`),
          encodeData: (data) => void (data.byteLength > 0 && calls.push(`${tag}.encodeData`)),
          onDestroy: () => void calls.push(`${tag}.onDestroy`),
        }),
      });
    proxy = await filterProxy([script("a", "./a.ts"), script("b", "./b.ts")], { modules: { "./a.ts": { default: recorder("a") }, "./b.ts": { default: recorder("b") } } });
    await proxy.request("POST", "/", { body: "hi" });
    expect(calls).toEqual([
      "a.decodeHeaders",
      "b.decodeHeaders",
      "a.decodeData",
      "b.decodeData",
      "b.encodeHeaders",
      "a.encodeHeaders",
      "b.encodeData",
      "a.encodeData",
      "a.onDestroy",
      "b.onDestroy",
    ]);
  });

  test("sendLocalReply from decodeHeaders: 401 with the filter's headers, never forwarded", async () => {
    const apiKey = defineHttpFilter({
      config: z.object({ header: z.string(), keys: z.array(z.string()) }),
      create: (config) => ({
        decodeHeaders(headers, _end, stream) {
          if (!config.keys.includes(headers.get(config.header) ?? "")) stream.sendLocalReply(401, "unauthorized\n", { headers: { "www-authenticate": "ApiKey" } });
        },
      }),
    });
    proxy = await filterProxy([script("auth", "./auth.ts", { header: "x-api-key", keys: ["k1"] })], { modules: { "./auth.ts": { default: apiKey } } });
    const refused = await proxy.request("GET", "/");
    expect(refused.status).toBe(401);
    expect(refused.text()).toBe("unauthorized\n");
    expect(header(refused.headers, "www-authenticate")).toBe("ApiKey");
    expect((await proxy.request("GET", "/", { headers: { "x-api-key": "k1" } })).status).toBe(200);
    expect(proxy.upstreamRequests).toHaveLength(1);
  });

  test("an async decodeHeaders holds the request (body included) until it resolves; the connection serves others meanwhile", async () => {
    const gates: ReturnType<typeof deferred<void>>[] = [];
    const gated = defineHttpFilter({
      create: () => ({
        async decodeHeaders(headers) {
          const gate = deferred();
          gates.push(gate);
          await gate.promise;
          headers.set("x-checked", "1");
        },
      }),
    });
    proxy = await filterProxy([script("gate", "./gate.ts")], { modules: { "./gate.ts": { default: gated } } });
    const first = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    first.request("POST", "/a", { body: "payload" });
    await proxy.runtime.settle();
    expect(gates).toHaveLength(1);
    expect(proxy.upstreamRequests).toHaveLength(0);
    // Another client is served while the first waits.
    const second = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    second.request("GET", "/b");
    await proxy.runtime.settle();
    gates[1]!.resolve();
    await proxy.runtime.settle();
    expect(second.responses[0]?.status).toBe(200);
    expect(first.responses).toHaveLength(0);
    gates[0]!.resolve();
    await proxy.runtime.settle();
    expect(first.responses[0]?.status).toBe(200);
    const forwarded = proxy.upstreamRequests.find((r) => r.path === "/a")!;
    expect(forwarded.body).toBe("payload");
    expect(header(forwarded.headers, "x-checked")).toBe("1");
  });

  test("async decodeData: chunks that arrive meanwhile are given in order after it settles, and the body goes on whole", async () => {
    const seen: string[] = [];
    const gates: ReturnType<typeof deferred<void>>[] = [];
    const slow = defineHttpFilter({
      create: () => ({
        async decodeData(data, endStream) {
          seen.push(`${new TextDecoder().decode(data)}${endStream ? "|end" : ""}`);
          const gate = deferred();
          gates.push(gate);
          await gate.promise;
        },
      }),
    });
    proxy = await filterProxy([script("slow", "./slow.ts")], { modules: { "./slow.ts": { default: slow } } });
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.send("POST / HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n");
    await proxy.runtime.settle();
    client.send("3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n");
    await proxy.runtime.settle();
    expect(seen).toEqual(["one"]);
    for (let i = 0; i < 3; i++) {
      gates[i]!.resolve();
      await proxy.runtime.settle();
    }
    // The chunked body's end comes as an empty last chunk.
    expect(seen).toEqual(["one", "two", "three", "|end"]);
    expect(proxy.upstreamRequests).toHaveLength(0);
    gates[3]!.resolve();
    await proxy.runtime.settle();
    expect(proxy.upstreamRequests).toHaveLength(1);
    expect(proxy.upstreamRequests[0]!.body).toBe("onetwothree");
    expect(client.responses[0]?.status).toBe(200);
  });

  test("StopIteration then stream.continueDecoding() later", async () => {
    let held: HttpFilterStream | undefined;
    const holder = defineHttpFilter({
      create: () => ({
        decodeHeaders(_headers, _end, stream) {
          held = stream;
          return FilterHeadersStatus.StopIteration;
        },
      }),
    });
    proxy = await filterProxy([script("hold", "./hold.ts")], { modules: { "./hold.ts": { default: holder } } });
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy.runtime.settle();
    expect(proxy.upstreamRequests).toHaveLength(0);
    held!.continueDecoding();
    await proxy.runtime.settle();
    expect(client.responses[0]?.status).toBe(200);
  });

  test("StopIterationAndBuffer until the end: the whole body is in decodingBuffer()", async () => {
    let body = "";
    const buffering = defineHttpFilter({
      create: () => ({
        decodeData(data, endStream, stream) {
          if (!endStream) return FilterDataStatus.StopIterationAndBuffer;
          const buffered = stream.decodingBuffer();
          body = new TextDecoder().decode(buffered ? buffered.toBytes() : new Uint8Array()) + new TextDecoder().decode(data);
        },
      }),
    });
    proxy = await filterProxy([script("buf", "./buf.ts")], { modules: { "./buf.ts": { default: buffering } } });
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.send("POST / HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n");
    await proxy.runtime.settle();
    client.send("2\r\ncd\r\n0\r\n\r\n");
    await proxy.runtime.settle();
    expect(body).toBe("abcd");
    expect(proxy.upstreamRequests[0]!.body).toBe("abcd");
  });

  test.each([
    ["a throw in decodeHeaders", { decodeHeaders: () => { throw new Error("boom"); } }],
    ["a rejection from decodeHeaders", { decodeHeaders: async () => { throw new Error("boom"); } }],
    ["a throw in encodeHeaders", { encodeHeaders: () => { throw new Error("boom"); } }],
    ["a throw in create()", undefined],
    ["a status that is no status", { decodeHeaders: () => "stop" as never }],
    ["a thenable whose then() throws", { decodeHeaders: () => ({ then: () => { throw new Error("boom"); } }) as never }],
  ])("%s: that stream gets 500, logged and counted; the next request is served", async (_what, handlers) => {
    let calls = 0;
    const failing = defineHttpFilter({
      create: () => {
        if (calls++ > 0) return {};
        if (handlers === undefined) throw new Error("boom");
        return handlers;
      },
    });
    proxy = await filterProxy([script("flaky", "./flaky.ts")], { modules: { "./flaky.ts": { default: failing } } });
    const failed = await proxy.request("GET", "/");
    expect(failed.status).toBe(500);
    expect(failed.text()).toBe("Internal Server Error");
    expect(proxy.counter("http.ingress_http.flaky.errors")).toBe(1);
    expect(proxy.runtime.logLines.filter((line) => line.includes("flaky:"))).toHaveLength(1);
    expect((await proxy.request("GET", "/")).status).toBe(200);
  });

  test("a stream reset while a callback is pending: what it resolves to later is ignored, onDestroy ran", async () => {
    const gate = deferred();
    let destroyed = 0;
    const pending = defineHttpFilter({
      create: () => ({
        decodeHeaders: () => gate.promise,
        onDestroy: () => void destroyed++,
      }),
    });
    proxy = await filterProxy([script("p", "./p.ts")], { modules: { "./p.ts": { default: pending } } });
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy.runtime.settle();
    client.socket.close();
    await proxy.runtime.settle();
    expect(destroyed).toBe(1);
    gate.resolve();
    await proxy.runtime.settle();
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter("http.ingress_http.p.errors")).toBe(0);
  });
});
