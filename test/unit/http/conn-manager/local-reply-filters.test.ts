/**
 * local_reply_config mappers with the access-log filters that read the reply itself:
 * grpc_status_filter (no grpc-status yet at mapping time, as in Envoy's encodeLocalReply:
 * the reply's HTTP status mapped), log_type_filter (a local reply is no access log record:
 * NotSet) and metadata_filter (the stream's dynamic metadata).
 */
import { describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../../core/access-log/context.ts";
import type { LocalReplyConfig } from "../../../../core/config/bootstrap.ts";
import { LocalReply, type LocalReplyStream } from "../../../../core/http/conn-manager/local-reply.ts";
import { ResponseHeaders } from "../../../../core/http/message.ts";
import { defaultsOnly } from "../../../../core/runtime/runtime-loader.ts";

function replyStream(dynamicMetadata?: Record<string, Record<string, unknown>>): LocalReplyStream {
  let responseCode = 0;
  return {
    setResponseCode: (status) => void (responseCode = status),
    localReplyContext(headers, body): AccessLogContext & { localReplyBody: string | undefined } {
      return {
        startWallClock: 0,
        durationMs: 1,
        protocol: "HTTP/2",
        get responseCode() {
          return responseCode;
        },
        responseCodeDetails: undefined,
        responseFlags: [],
        bytesReceived: 0,
        bytesSent: 0,
        upstreamHost: undefined,
        upstreamCluster: undefined,
        downstreamRemoteAddress: undefined,
        downstreamLocalAddress: undefined,
        routeName: undefined,
        requestHeader: () => undefined,
        responseHeader: (name) => headers.header(name),
        responseTrailer: () => undefined,
        dynamicMetadata,
        localReplyBody: body,
      };
    },
  };
}

const mapper = (filter: LocalReplyConfig["mappers"][number]["filter"], body: string) => ({ filter, body, headersToAdd: [] });

describe("local_reply_config mappers with grpc_status_filter, log_type_filter, metadata_filter", () => {
  const localReply = new LocalReply(
    {
      mappers: [
        // UNAVAILABLE (14): a 503 mapped by httpToGrpcStatus.
        mapper({ type: "grpc_status", statuses: [14], exclude: false }, "unavailable"),
        mapper(
          { type: "metadata", matcher: { filter: "m", path: ["tenant"], value: { type: "string", match: { type: "exact", value: "a", ignoreCase: false } } }, matchIfKeyNotFound: false },
          "tenant a",
        ),
        mapper({ type: "log_type", types: ["NotSet"], exclude: false }, "not set"),
      ],
    },
    defaultsOnly({ random: () => 0 }),
  );
  const rewrite = (status: number, stream = replyStream()) => localReply.rewrite(new ResponseHeaders(status), "original", stream).body;

  test("the reply's status as a gRPC status, then metadata, then the NotSet log type", () => {
    expect(rewrite(503)).toBe("unavailable");
    expect(rewrite(404, replyStream({ m: { tenant: "a" } }))).toBe("tenant a");
    expect(rewrite(404)).toBe("not set");
  });
});
