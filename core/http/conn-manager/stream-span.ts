/**
 * The tags a stream's span gets when the stream ends (Envoy's
 * HttpTracerUtility::finalizeDownstreamSpan and setCommonTags,
 * source/common/tracing/http_tracer_impl.cc), then the HCM's custom_tags (last, as
 * TracerUtility::finalizeSpan sets them: tracer_impl.cc), then the span is finished.
 */
import type { SocketAddress } from "../../port.ts";
import type { TracingSpan } from "../../tracing/span.ts";
import { applyCustomTags, customTagsFor, type CustomTagStream } from "../../tracing/custom-tags.ts";
import type { TracingConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { StreamInfo } from "../stream-info.ts";
import { byteStringText } from "../../access-log/byte-string.ts";

/**
 * HttpTracerUtility's buildUrl: scheme (x-forwarded-proto), host and the original path, cut at
 * max_path_tag_length (bytes, as Envoy's substr), as text (header values are bytes here).
 */
function buildUrl(headers: RequestHeaders, maxPathLength: number): string {
  const path = headers.get("x-envoy-original-path") ?? headers.path;
  return byteStringText(`${headers.get("x-forwarded-proto") ?? ""}://${headers.authority}${path.length > maxPathLength ? path.slice(0, maxPathLength) : path}`);
}

function isGrpc(headers: HeaderMap): boolean {
  const type = headers.get("content-type");
  return type !== undefined && (type === "application/grpc" || type.startsWith("application/grpc+") || type.startsWith("application/grpc;"));
}

export function finalizeDownstreamSpan(
  span: TracingSpan,
  request: RequestHeaders | undefined,
  response: ResponseHeaders | undefined,
  trailers: HeaderMap | undefined,
  info: StreamInfo,
  peer: SocketAddress | undefined,
  tracing: TracingConfig,
  server: ServerContext,
  /** What custom_tags read of the stream; undefined when the HCM has none. */
  stream: CustomTagStream | undefined,
): void {
  // A span not sampled is never sent: its tags would be built for nothing on every request.
  if (!span.sampled) return span.finish();
  if (request !== undefined) {
    const requestId = request.get("x-request-id");
    if (requestId !== undefined) span.setTag("guid:x-request-id", requestId);
    span.setTag("http.url", buildUrl(request, tracing.maxPathTagLength));
    span.setTag("http.method", request.method);
    span.setTag("downstream_cluster", request.get("x-envoy-downstream-service-cluster") ?? "-");
    // Bytes to text: the tracer encodes its tags as UTF-8 itself.
    span.setTag("user_agent", byteStringText(request.get("user-agent") ?? "-"));
    span.setTag("http.protocol", request.protocol);
    if (peer !== undefined) span.setTag("peer.address", peer.address);
    const clientTraceId = request.get("x-client-trace-id");
    if (clientTraceId !== undefined) span.setTag("guid:x-client-trace-id", clientTraceId);
    if (isGrpc(request)) {
      span.setTag("grpc.path", request.path);
      span.setTag("grpc.authority", request.authority);
      span.setTag("grpc.content_type", request.get("content-type") ?? "");
      const timeout = request.get("grpc-timeout");
      if (timeout !== undefined) span.setTag("grpc.timeout", timeout);
    }
  }
  // setCommonTags.
  span.setTag("component", "proxy");
  span.setTag("response_size", String(info.bytesSent));
  span.setTag("request_size", String(info.bytesReceived));
  span.setTag("response_flags", info.responseFlags.length > 0 ? info.responseFlags.join(",") : "-");
  if (info.upstreamHost !== "" && info.upstreamCluster !== "") {
    const cluster = server.clusterManager.get(info.upstreamCluster);
    span.setTag("upstream_cluster", info.upstreamCluster);
    // The cluster's observability name (alt_stat_name, which polyvoy does not take: its name).
    span.setTag("upstream_cluster.name", cluster?.config.name ?? info.upstreamCluster);
    span.setTag("upstream_address", info.upstreamHost);
  }
  const code = info.responseCode;
  if (code === 0 || (code >= 500 && code < 600)) span.setTag("error", "true");
  span.setTag("http.status_code", String(code));
  // setTagsFromGrpcStatus: the status from the trailers, or a trailers-only response's headers.
  if (request !== undefined && isGrpc(request)) {
    const status = trailers?.get("grpc-status") ?? response?.get("grpc-status");
    if (status !== undefined) {
      span.setTag("grpc.status_code", status);
      const message = trailers?.get("grpc-message") ?? response?.get("grpc-message");
      if (message !== undefined) span.setTag("grpc.message", message);
      if (status !== "0") span.setTag("error", "true");
    }
  }
  if (stream !== undefined) setCustomTags(span, request, info, tracing, server, stream);
  span.finish();
}

/**
 * The HCM's custom_tags on one of its stream's spans, the stream's own or an upstream
 * request's (Envoy's ActiveStream::setCustomTags, which TracerUtility::finalizeSpan calls for
 * both: tracer_impl.cc).
 */
export function setCustomTags(span: TracingSpan, request: RequestHeaders | undefined, info: StreamInfo, tracing: TracingConfig, server: ServerContext, stream: CustomTagStream): void {
  // A span not sampled is never sent (Envoy computes its tags anyway: a format renders for nothing).
  if (tracing.customTags === undefined || !span.sampled) return;
  applyCustomTags(span, customTagsFor(server, tracing, server.runtime), { request, info, stream });
}
