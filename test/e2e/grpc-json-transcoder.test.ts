/**
 * envoy.filters.http.grpc_json_transcoder on every runtime, black-box: JSON/REST requests
 * from plain HTTP/1.1 clients (fetch) through polyvoy to a real @grpc/grpc-js server (the
 * library service of test/fixtures/grpc-json/library.proto, loaded by @grpc/proto-loader)
 * over an HTTP/2 cluster; the descriptor set is made by protoc at test time and read from a
 * file (proto_descriptor).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { GOOGLEAPIS_DIR, LIBRARY_PROTO_DIR, libraryDescriptorSet } from "../helpers/grpc-json-descriptor.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Call = grpc.ServerUnaryCall<any, any>;
type Callback = grpc.sendUnaryData<any>;

/** library.proto's and upload.proto's FileDescriptorSet, by protoc (as a user makes one). */
function libraryAndUploadDescriptorSet(out: string): Uint8Array {
  execFileSync("protoc", ["-I", LIBRARY_PROTO_DIR, "-I", GOOGLEAPIS_DIR, "--include_imports", `--descriptor_set_out=${out}`, "library.proto", "upload.proto"], { stdio: ["ignore", "ignore", "pipe"] });
  return new Uint8Array(readFileSync(out));
}

function loadUpload(): any {
  const definition = protoLoader.loadSync(join(LIBRARY_PROTO_DIR, "upload.proto"), { keepCase: true, longs: String, defaults: false, includeDirs: [LIBRARY_PROTO_DIR, GOOGLEAPIS_DIR, "/usr/include"] });
  return grpc.loadPackageDefinition(definition).upload as any;
}

function loadLibrary(): any {
  const definition = protoLoader.loadSync(join(LIBRARY_PROTO_DIR, "library.proto"), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [LIBRARY_PROTO_DIR, GOOGLEAPIS_DIR, "/usr/include"],
  });
  return grpc.loadPackageDefinition(definition).library as any;
}

/** google.rpc.Status { code = 1; message = 2 } by hand: grpc-status-details-bin's content. */
function statusDetails(code: number, message: string): Buffer {
  const text = Buffer.from(message);
  return Buffer.concat([Buffer.from([0x08, code, 0x12, text.length]), text]);
}

async function startLibraryServer(): Promise<{ server: grpc.Server; port: number; seen: string[]; uploads: { content_type: string; data: string }[] }> {
  const library = loadLibrary();
  const server = new grpc.Server();
  const seen: string[] = [];
  const uploads: { content_type: string; data: string }[] = [];
  server.addService(loadUpload().v1.Upload.service, {
    Stream: (call: grpc.ServerReadableStream<any, any>, cb: Callback) => {
      const received: { content_type: string; data: string }[] = [];
      call.on("data", (body: any) => {
        const chunk = { content_type: body.content_type ?? "", data: Buffer.from(body.data ?? []).toString() };
        received.push(chunk);
        uploads.push(chunk);
      });
      call.on("end", () => cb(null, { chunks: received.length, content_type: received[0]?.content_type ?? "", data: received.map((r) => r.data) }));
    },
    Put: (call: Call, cb: Callback) => cb(null, { chunks: 1, content_type: call.request.content?.content_type ?? "", data: [String(call.request.id), Buffer.from(call.request.content?.data ?? []).toString()] }),
    Append: (call: grpc.ServerReadableStream<any, any>, cb: Callback) => {
      const data: string[] = [];
      call.on("data", (m: any) => data.push(`${m.id}:${Buffer.from(m.content?.data ?? []).toString()}`));
      call.on("end", () => cb(null, { chunks: data.length, data }));
    },
  });
  server.addService(library.v1.Library.service, {
    ListRooms: (_call: Call, cb: Callback) => cb(null, { rooms: [{ id: "1", title: "Reading room", kind: "READING" }] }),
    GetRoom: (call: Call, cb: Callback) => {
      const r = call.request;
      seen.push(`GetRoom ${JSON.stringify(r)} ${call.metadata.get("x-envoy-original-path")[0] ?? ""}`);
      if (r.room_id === "404") return cb({ code: grpc.status.NOT_FOUND, details: "no room 404" });
      if (r.room_id === "99") {
        const metadata = new grpc.Metadata();
        metadata.set("grpc-status-details-bin", statusDetails(grpc.status.PERMISSION_DENIED, "room 99 is closed"));
        return cb({ code: grpc.status.PERMISSION_DENIED, details: "closed", metadata });
      }
      cb(null, { id: r.room_id, floor: r.floor ?? 0, title: `room ${r.room_id}`, ...(r.include_closed && { open: true }), kind: r.kind ?? "KIND_UNSPECIFIED" });
    },
    CreateRoom: (call: Call, cb: Callback) => cb(null, { ...call.request.room, id: "7", curator_name: call.request.request_id }),
    GetVolume: (call: Call, cb: Callback) => cb(null, { id: call.request.name, authors: call.request.fields }),
    UpdateVolume: (call: Call, cb: Callback) => cb(null, { ...call.request.volume, name: `in room ${call.request.room_id}` }),
    LendVolume: (call: Call, cb: Callback) => cb(null, { loan_id: "L1", name: call.request.name, reader: call.request.reader }),
    ReturnVolume: (_call: Call, cb: Callback) => cb(null, {}),
    SearchCatalog: (call: grpc.ServerWritableStream<any, any>) => {
      const { path, query, limit } = call.request;
      for (let i = 0; i < (limit ?? 0); i++) call.write({ id: `${path}#${i}`, name: query });
      call.end();
    },
    ShelveVolumes: (call: grpc.ServerReadableStream<any, any>, cb: Callback) => {
      const ids: string[] = [];
      call.on("data", (v: any) => ids.push(v.id));
      call.on("end", () => cb(null, { count: ids.length, ids }));
    },
    Exchange: (call: grpc.ServerDuplexStream<any, any>) => {
      call.on("data", (v: any) => call.write(v));
      call.on("end", () => call.end());
    },
    RoomOptions: (_call: Call, cb: Callback) => cb(null, {}),
    Banner: (_call: Call, cb: Callback) => cb(null, { content_type: "text/plain; charset=utf-8", data: Buffer.from("Welcome to the library") }),
    UploadScan: (call: Call, cb: Callback) => cb(null, { loan_id: call.request.volume_id, name: call.request.scan.content_type, reader: Buffer.from(call.request.scan.data).toString() }),
    Ping: (call: Call, cb: Callback) => cb(null, { text: `pong ${call.request.text}`, n: call.request.n }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port, seen, uploads };
}

function transcoder(descriptorFile: string, extra: object = {}): object {
  return {
    name: "envoy.filters.http.grpc_json_transcoder",
    typed_config: { "@type": TYPE_URL, proto_descriptor: descriptorFile, services: ["library.v1.Library", "upload.v1.Upload"], auto_mapping: true, ...extra },
  };
}

/** A proxy with `filter` before the router; `disabledRoute`: /v1/floors/ has the transcoder disabled by its per-route config. */
async function startProxy(runtime: (typeof RUNTIMES)[number], filter: object, grpcPort: number, disabledRoute: boolean): Promise<{ proxy: ProxyProcess; port: number }> {
  const port = await freePort();
  const config = httpProxyConfig({
    listenPort: port,
    clusters: { grpc: [grpcPort] },
    routes: [
      { match: { prefix: "/library.v1.Library/" }, cluster: "grpc" },
      { match: { prefix: "/upload.v1.Upload/" }, cluster: "grpc" },
      // The transcoder disabled on this route (a per-route config with no services).
      ...(!disabledRoute ? [] : [{
        match: { prefix: "/v1/floors/" },
        action: {
          direct_response: { status: 200, body: { inline_string: "not transcoded" } },
          typed_per_filter_config: { "envoy.filters.http.grpc_json_transcoder": { "@type": TYPE_URL, proto_descriptor_bin: Buffer.from(libraryDescriptorSet()).toString("base64") } },
        },
      }]),
      // Only this route's config rejects unknown methods and query parameters (the filter's does not).
      ...(!disabledRoute ? [] : [{
        match: { prefix: "/strict/" },
        action: {
          direct_response: { status: 200, body: { inline_string: "strict route" } },
          typed_per_filter_config: {
            "envoy.filters.http.grpc_json_transcoder": {
              "@type": TYPE_URL,
              proto_descriptor_bin: Buffer.from(libraryDescriptorSet()).toString("base64"),
              services: ["library.v1.Library"],
              request_validation_options: { reject_unknown_method: true, reject_unknown_query_parameters: true },
            },
          },
        },
      }]),
      { match: { prefix: "/" }, action: { direct_response: { status: 200, body: { inline_string: "plain route" } } } },
    ],
    clusterExtra: { http2_protocol_options: {} },
    hcm: {
      http_filters: [filter, { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  });
  return { proxy: await ProxyProcess.start(runtime, config), port };
}

describe.each(RUNTIMES)("grpc_json_transcoder on %s", (runtime) => {
  let upstream: Awaited<ReturnType<typeof startLibraryServer>>;
  let proxy: ProxyProcess;
  let port: number;
  let lines: ProxyProcess;
  let linesPort: number;
  let dir: string;
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-transcoder-"));
    const descriptorFile = join(dir, "library.pb");
    libraryAndUploadDescriptorSet(descriptorFile);
    upstream = await startLibraryServer();
    ({ proxy, port } = await startProxy(runtime, transcoder(descriptorFile, { convert_grpc_status: false }), upstream.port, true));
    ({ proxy: lines, port: linesPort } = await startProxy(
      runtime,
      {
        name: "envoy.filters.http.grpc_json_transcoder",
        typed_config: {
          "@type": TYPE_URL,
          proto_descriptor_bin: Buffer.from(libraryDescriptorSet()).toString("base64"),
          services: ["library.v1.Library"],
          convert_grpc_status: true,
          print_options: { stream_newline_delimited: true },
          request_validation_options: { reject_unknown_method: true, reject_unknown_query_parameters: true },
          max_request_body_size: 64,
          max_response_body_size: 80,
        },
      },
      upstream.port,
      false,
    ));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await lines?.stop("SIGKILL");
    upstream?.server.forceShutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("GET with a path variable and query parameters: the gRPC call's fields; the answer is JSON with a content-length", async () => {
    const res = await fetch(url("/v1/rooms/12?floor=3&include_closed=true&kind=ARCHIVE"));
    expect([res.status, res.headers.get("content-type"), res.headers.get("grpc-status")]).toEqual([200, "application/json", "0"]);
    const body = await res.text();
    expect(res.headers.get("content-length")).toBe(String(Buffer.byteLength(body)));
    expect(JSON.parse(body)).toEqual({ id: "12", floor: 3, title: "room 12", open: true, kind: "ARCHIVE" });
    // The gRPC call carried the original path (x-envoy-original-path).
    expect(upstream.seen.at(-1)).toContain("/v1/rooms/12?floor=3");
    // Proto3 fields written at their defaults on the wire (grpc-js writes the server's kind and floor: 0)
    // is printed, as Envoy's protobuf prints what is on the wire (json/internal/unparser.cc
    // WriteFields: GetSize > 0); an absent one (open) is not.
    const plain = await fetch(url("/v1/rooms/13"));
    expect(await plain.text()).toBe('{"id":"13","title":"room 13","kind":"KIND_UNSPECIFIED","floor":0}');
  });

  test("additional_bindings: the second rule of a method", async () => {
    const res = await fetch(`http://127.0.0.1:${linesPort}/v1/floors/2/rooms/5`);
    expect(await res.json()).toEqual({ id: "5", floor: 2, title: "room 5", kind: "KIND_UNSPECIFIED" });
  });

  test("a route's typed_per_filter_config replaces the filter's: with no services, the request passes untranscoded", async () => {
    const res = await fetch(url("/v1/floors/2/rooms/5"));
    expect([res.status, await res.text()]).toEqual([200, "not transcoded"]);
  });

  test("bidirectional streaming: the JSON array's messages go up, the answers come back as an array", async () => {
    const res = await fetch(url("/v1/exchange"), { method: "POST", body: JSON.stringify([{ id: "x" }, { id: "y", pages: "3" }]) });
    expect(JSON.parse(await res.text())).toEqual([{ id: "x" }, { id: "y", pages: "3" }]);
  });

  test("a method with google.protobuf.Empty in and a repeated message out", async () => {
    const res = await fetch(url("/v1/rooms"));
    expect(await res.json()).toEqual({ rooms: [{ id: "1", title: "Reading room", kind: "READING" }] });
  });

  test("POST with a named body field (body: room) and a query parameter", async () => {
    const res = await fetch(url("/v1/rooms?request_id=r-1"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "Map room", tags: ["maps", "old"], curator: "Ann" }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: "7", title: "Map room", tags: ["maps", "old"], curator: "r-1" });
  });

  test('POST with body "*" and a custom verb (:lend) over a multi-segment variable', async () => {
    const res = await fetch(url("/v1/rooms/3/volumes/9:lend"), { method: "POST", body: JSON.stringify({ reader: "bob" }) });
    expect(await res.json()).toEqual({ loanId: "L1", name: "rooms/3/volumes/9", reader: "bob" });
  });

  test("the nested {volume.id} binding with a body field (PATCH)", async () => {
    const res = await fetch(url("/v1/rooms/4/volumes/v-77"), { method: "PATCH", body: JSON.stringify({ authors: ["Le Guin"], pages: "300" }) });
    expect(await res.json()).toMatchObject({ id: "v-77", name: "in room 4", authors: ["Le Guin"], pages: "300" });
  });

  test("a multi-segment variable ({name=rooms/*/volumes/*}) and a repeated query parameter", async () => {
    const res = await fetch(url("/v1/rooms/1/volumes/2?fields=a&fields=b"));
    expect(await res.json()).toEqual({ id: "rooms/1/volumes/2", authors: ["a", "b"] });
  });

  test("server streaming over ** (path=**): a JSON array written as the frames come", async () => {
    const res = await fetch(url("/v1/catalog/fiction/sea?query=ships&limit=3"));
    expect([res.status, res.headers.get("content-type")]).toEqual([200, "application/json"]);
    expect(JSON.parse(await res.text())).toEqual([0, 1, 2].map((i) => ({ id: `fiction/sea#${i}`, name: "ships" })));
    const none = await fetch(url("/v1/catalog/x?limit=0"));
    expect(await none.text()).toBe("[]");
  });

  test("server streaming with print_options.stream_newline_delimited: one object per line", async () => {
    const res = await fetch(`http://127.0.0.1:${linesPort}/v1/catalog/a?query=q&limit=2`);
    expect(await res.text()).toBe('{"id":"a#0","name":"q"}\n{"id":"a#1","name":"q"}\n');
  });

  test("client streaming: a JSON array is one message per element", async () => {
    const res = await fetch(url("/v1/shelve"), { method: "POST", body: JSON.stringify([{ id: "a" }, { id: "b", name: "x, [y]" }, { id: "c" }]) });
    expect(await res.json()).toEqual({ count: 3, ids: ["a", "b", "c"] });
  });

  test("bidirectional streaming: each element of the request's array goes up as it is whole (the answer to the first comes before the request ends)", { timeout: 15_000 }, async () => {
    const encoder = new TextEncoder();
    let send!: (text: string | undefined) => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        send = (text) => (text === undefined ? controller.close() : controller.enqueue(encoder.encode(text)));
      },
    });
    send('[{"id": "fir');
    const response = fetch(url("/v1/exchange"), { method: "POST", body, duplex: "half" } as RequestInit);
    send('st"}, ');
    // The response's headers come with the answer to the first message: before the request ends.
    const res = await response;
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("}")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toBe('[{"id":"first"}');
    send('{"id": "second"}]');
    send(undefined);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(JSON.parse(text)).toEqual([{ id: "first" }, { id: "second" }]);
  });

  test("an error status: NOT_FOUND is HTTP 404, grpc-status and grpc-message kept as they came (percent-encoded)", async () => {
    const res = await fetch(url("/v1/rooms/404"));
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual([404, "5", "no%20room%20404"]);
    expect(await res.text()).toBe("");
  });

  test("convert_grpc_status: the google.rpc.Status as JSON, from grpc-status-details-bin or from grpc-status and grpc-message", async () => {
    const detailed = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/99`);
    expect([detailed.status, detailed.headers.get("content-type"), detailed.headers.get("grpc-status")]).toEqual([403, "application/json", null]);
    expect(await detailed.json()).toEqual({ code: 7, message: "room 99 is closed" });
    const plain = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/404`);
    expect(plain.status).toBe(404);
    expect(await plain.json()).toEqual({ code: 5, message: "no room 404" });
  });

  test("google.api.HttpBody: a response's raw data and content-type; a request body field's raw body and content-type", async () => {
    const banner = await fetch(url("/v1/banner"));
    expect([banner.status, banner.headers.get("content-type"), await banner.text()]).toEqual([200, "text/plain; charset=utf-8", "Welcome to the library"]);
    const scan = await fetch(url("/v1/scans/v-5"), { method: "POST", headers: { "content-type": "image/x-test" }, body: "raw scan bytes" });
    expect(await scan.json()).toEqual({ loanId: "v-5", name: "image/x-test", reader: "raw scan bytes" });
  });

  test("a client stream of google.api.HttpBody: each chunk of the body is one message, the first with the content-type", async () => {
    const encoder = new TextEncoder();
    let send!: (text: string | undefined) => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        send = (text) => (text === undefined ? controller.close() : controller.enqueue(encoder.encode(text)));
      },
    });
    const before = upstream.uploads.length;
    send("first part,");
    const response = fetch(url("/v1/upload"), { method: "POST", headers: { "content-type": "text/csv" }, body, duplex: "half" } as RequestInit);
    // The first chunk reaches the server as a message before the body ends.
    while (upstream.uploads.length === before) await new Promise((r) => setTimeout(r, 10));
    send("second part");
    send(undefined);
    const res = await response;
    expect(await res.json()).toEqual({ chunks: 2, contentType: "text/csv", data: ["first part,", "second part"] });
    expect(upstream.uploads.slice(before)).toEqual([
      { content_type: "text/csv", data: "first part," },
      { content_type: "", data: "second part" },
    ]);
  }, 15_000);

  test("an HttpBody body field with a path binding that is no value of its int64 field: Envoy's 400 (unary with and without a body, client stream), the proxy alive", async () => {
    const ok = await fetch(url("/v1/files/12"), { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
    expect([ok.status, await ok.json()]).toEqual([200, { chunks: 1, contentType: "text/plain", data: ["12", "hello"] }]);
    for (const [path, body] of [["/v1/files/abc", "hello"], ["/v1/files/abc", undefined], ["/v1/files/abc:append", "chunk"]] as const) {
      const bad = await fetch(url(path), { method: "POST", headers: { "content-type": "text/plain" }, body });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain("abc");
    }
    const after = await fetch(url("/v1/files/13:append"), { method: "POST", headers: { "content-type": "text/plain" }, body: "more" });
    expect([after.status, await after.json()]).toEqual([200, { chunks: 1, data: ["13:more"] }]);
  });

  test("a client stream of google.api.HttpBody is not held: no max_request_body_size applies (Envoy has none there)", async () => {
    const { proxy: small, port: smallPort } = await startProxy(runtime, transcoder(join(dir, "library.pb"), { max_request_body_size: 16 }), upstream.port, false);
    try {
      const res = await fetch(`http://127.0.0.1:${smallPort}/v1/upload`, { method: "POST", headers: { "content-type": "text/plain" }, body: "y".repeat(100) });
      // However the runtime cuts the body into chunks (one message each).
      const summary = (await res.json()) as { contentType: string; data: string[] };
      expect([res.status, summary.contentType, summary.data.join("")]).toEqual([200, "text/plain", "y".repeat(100)]);
    } finally {
      await small.stop("SIGKILL");
    }
  });

  test("auto_mapping: POST /pkg.Service/Method with a JSON body", async () => {
    const res = await fetch(url("/library.v1.Library/Ping"), { method: "POST", body: JSON.stringify({ text: "hi", n: "5" }) });
    expect(await res.json()).toEqual({ text: "pong hi", n: "5" });
    // An unquoted int64 beyond 2^53 stays exact (protobuf's parser reads the token, not a double).
    const big = await fetch(url("/library.v1.Library/Ping"), { method: "POST", body: '{"text": "big", "n": 9007199254740993}' });
    expect(await big.text()).toBe('{"text":"pong big","n":"9007199254740993"}');
  });

  test("a request no rule maps passes on to a plain HTTP route; with reject_unknown_method it is Envoy's 404", async () => {
    const res = await fetch(url("/not/a/rule"));
    expect([res.status, await res.text()]).toEqual([200, "plain route"]);
    const rejected = await fetch(`http://127.0.0.1:${linesPort}/not/a/rule`);
    expect([rejected.status, await rejected.text()]).toEqual([404, "Could not resolve /not/a/rule to a method."]);
  });

  test("request_validation_options set only in a route's typed_per_filter_config apply on that route", async () => {
    const rejected = await fetch(url("/strict/not/a/rule"));
    expect([rejected.status, await rejected.text()]).toEqual([404, "Could not resolve /strict/not/a/rule to a method."]);
    const elsewhere = await fetch(url("/not/a/rule"));
    expect([elsewhere.status, await elsewhere.text()]).toEqual([200, "plain route"]);
  });

  test("an unknown query parameter: the request passes untranscoded (Envoy); with reject_unknown_query_parameters Envoy's 400", async () => {
    const passed = await fetch(url("/v1/rooms/1?nope=1"));
    expect([passed.status, await passed.text()]).toEqual([200, "plain route"]);
    const rejected = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/1?nope=1`);
    expect([rejected.status, await rejected.text()]).toEqual([400, 'Could not find field "nope" in the type "library.v1.GetRoomRequest".']);
  });

  test("max_request_body_size and max_response_body_size: Envoy's 413 and 500", async () => {
    const big = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/3/volumes/9:lend`, { method: "POST", body: JSON.stringify({ reader: "x".repeat(100) }) });
    expect([big.status, await big.text()]).toEqual([413, "Request rejected because the transcoder's internal buffer size exceeds the configured limit."]);
    const small = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/3/volumes/9:lend`, { method: "POST", body: JSON.stringify({ reader: "x" }) });
    expect(small.status).toBe(200);
    await small.text();
    const long = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/1/volumes/2?fields=${"a".repeat(100)}`);
    expect([long.status, await long.text()]).toEqual([500, "Response not transcoded because the transcoder's internal buffer size exceeds the configured limit."]);
    // 61 bytes of gRPC within the limit, but its JSON (each < printed \u003c) past it: the JSON counts too (Envoy's encoderBufferLimitReached).
    const fits = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/1/volumes/2?fields=${"%3C".repeat(5)}`);
    expect([fits.status, await fits.json()]).toEqual([200, { id: "rooms/1/volumes/2", authors: ["<".repeat(5)] }]);
    const escaped = await fetch(`http://127.0.0.1:${linesPort}/v1/rooms/1/volumes/2?fields=${"%3C".repeat(40)}`);
    expect([escaped.status, await escaped.text()]).toEqual([500, "Response not transcoded because the transcoder's internal buffer size exceeds the configured limit."]);
  });

  test("a JSON field the message lacks is skipped (the library's translator ignores unknown fields), a value of the wrong type is a 400", async () => {
    const res = await fetch(url("/v1/rooms/3/volumes/9:lend"), { method: "POST", body: JSON.stringify({ reader: "bob", shoe_size: 9 }) });
    expect([res.status, await res.json()]).toEqual([200, { loanId: "L1", name: "rooms/3/volumes/9", reader: "bob" }]);
    const wrong = await fetch(url("/v1/rooms/3/volumes/9:lend"), { method: "POST", body: JSON.stringify({ reader: "bob", due: "yesterday" }) });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain("due");
  });

  test("a path variable that is no value of its field (room_id is an int64) is a 400", async () => {
    const res = await fetch(url("/v1/rooms/abc"));
    expect(res.status).toBe(400);
    expect(await res.text()).not.toBe("");
  });

  test("a response that is not gRPC (the router's local reply: no upstream) passes untouched", async () => {
    const closed = await freePort();
    const { proxy: down, port: downPort } = await startProxy(runtime, transcoder(join(dir, "library.pb")), closed, false);
    try {
      const res = await fetch(`http://127.0.0.1:${downPort}/v1/rooms/1`);
      expect([res.status, res.headers.get("content-type"), res.headers.get("grpc-status")]).toEqual([503, "text/plain", null]);
      expect(await res.text()).toMatch(/^upstream connect error/);
    } finally {
      await down.stop("SIGKILL");
    }
  });

  test("match_incoming_request_route: the route the original path matched is kept (here the plain one)", async () => {
    const { proxy: kept, port: keptPort } = await startProxy(runtime, transcoder(join(dir, "library.pb"), { match_incoming_request_route: true }), upstream.port, false);
    try {
      const res = await fetch(`http://127.0.0.1:${keptPort}/v1/rooms/1`);
      expect([res.status, await res.text()]).toEqual([200, "plain route"]);
    } finally {
      await kept.stop("SIGKILL");
    }
  });

  test("bad JSON is Envoy's 400 with protobuf's parser's message", async () => {
    const res = await fetch(url("/v1/rooms"), { method: "POST", body: "{not json" });
    expect([res.status, await res.text()]).toEqual([400, "Expected : between key:value pair.\n{not json\n     ^"]);
  });

  test("a native gRPC call through the same listener still works", async () => {
    const library = loadLibrary();
    const client = new library.v1.Library(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const room = await new Promise<any>((resolve, reject) => client.GetRoom({ room_id: "21", floor: 1 }, (err: Error | null, value: any) => (err ? reject(err) : resolve(value))));
      expect(room).toMatchObject({ id: "21", floor: 1, title: "room 21" });
    } finally {
      client.close();
    }
  });
});
