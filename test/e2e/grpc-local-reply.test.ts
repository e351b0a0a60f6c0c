/**
 * Local replies to gRPC requests on every runtime, black-box: a @grpc/grpc-js client over
 * h2c (codec_type AUTO) sees the gRPC status Envoy's Utility::sendLocalReply gives each
 * HTTP status (httpToGrpcStatus) and the reply's text as the status details; the fault
 * filter's gRPC aborts (`abort.grpc_status`, x-envoy-fault-abort-grpc-request).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const identity = (b: Buffer): Buffer => b;

const FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/** One unary call of `method` with an empty message; the error (or null) the client reports. */
function call(client: grpc.Client, method: string, metadata = new grpc.Metadata()): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, Buffer.alloc(0), metadata, (error) => resolve(error));
  });
}

describe.each(RUNTIMES)("gRPC local replies on %s", (runtime) => {
  let proxy: ProxyProcess;
  let client: grpc.Client;

  beforeAll(async () => {
    const port = await freePort();
    const dead = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { dead: [dead], empty: [] },
        routes: [
          { match: { prefix: "/pkg.Svc/Denied" }, action: { direct_response: { status: 403, body: { inline_string: "not for you" } } } },
          { match: { prefix: "/pkg.Svc/Dead" }, cluster: "dead" },
          {
            match: { prefix: "/pkg.Svc/Fault" },
            action: {
              route: { cluster: "empty" },
              typed_per_filter_config: { "envoy.filters.http.fault": { "@type": FAULT, abort: { grpc_status: 8, percentage: { numerator: 100 } } } },
            },
          },
          { match: { prefix: "/pkg.Svc/" }, cluster: "empty" },
        ],
        hcm: {
          http_filters: [
            // By default the request's x-envoy-fault-abort-grpc-request says; /pkg.Svc/Fault's route sets grpc_status.
            { name: "envoy.filters.http.fault", typed_config: { "@type": FAULT, abort: { header_abort: {}, percentage: { numerator: 100 } } } },
            { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
          ],
        },
      }),
    );
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await proxy?.stop("SIGKILL");
  });

  test("no healthy upstream: UNAVAILABLE, Envoy's text as details", async () => {
    const error = await call(client, "/pkg.Svc/Method");
    expect(error).toMatchObject({ code: grpc.status.UNAVAILABLE, details: "no healthy upstream" });
  });

  test("connection refused: UNAVAILABLE, the reset reason as details", async () => {
    const error = await call(client, "/pkg.Svc/Dead");
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.details).toMatch(/^upstream connect error or disconnect\/reset before headers/);
  });

  test("no route: UNIMPLEMENTED", async () => {
    const error = await call(client, "/other.Svc/Method");
    expect(error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  test("a direct response 403: PERMISSION_DENIED with its body", async () => {
    const error = await call(client, "/pkg.Svc/Denied");
    expect(error).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: "not for you" });
  });

  test("fault abort.grpc_status: that status, 'fault filter abort' as details", async () => {
    const error = await call(client, "/pkg.Svc/Fault");
    expect(error).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: "fault filter abort" });
  });

  test("fault header_abort with x-envoy-fault-abort-grpc-request: the status the request names", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-envoy-fault-abort-grpc-request", "9");
    const error = await call(client, "/pkg.Svc/Method", metadata);
    expect(error).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: "fault filter abort" });
  });
});
