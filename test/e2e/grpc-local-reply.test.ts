/**
 * Local replies to gRPC requests on every runtime, black-box: a @grpc/grpc-js client over
 * h2c (codec_type AUTO) sees the gRPC status Envoy's Utility::sendLocalReply gives each
 * HTTP status (httpToGrpcStatus) and the reply's text as the status details.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

const identity = (b: Buffer): Buffer => b;

/** One unary call of `method` with an empty message; the error (or null) the client reports. */
function call(client: grpc.Client, method: string): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, Buffer.alloc(0), (error) => resolve(error));
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
          { match: { prefix: "/pkg.Svc/" }, cluster: "empty" },
        ],
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
});
