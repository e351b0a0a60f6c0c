/**
 * envoy.extensions.access_loggers.grpc.v3.CommonGrpcAccessLogConfig, the common_config of
 * the gRPC access loggers (http_grpc, tcp_grpc: Envoy's source/extensions/access_loggers/grpc/)
 * and of the OpenTelemetry one (open_telemetry). transport_api_version must be V3, as
 * Envoy's checkTransportVersion requires (AUTO, the default, is refused there too).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "../config/schema-kit/index.ts";
import { lazySchema } from "../config/lazy-schema.ts";
import { grpcService } from "../config/grpc-service-schema.ts";
import { durationMs, uint32 } from "../config/proto-schema.ts";
import { unsupportedField } from "../config/unsupported-field.ts";

/**
 * `what`: how grpc_service's timeout and retry_policy are taken (grpc-service-schema.ts):
 * refused on a long-lived stream (http_grpc), taken by unary exports (open_telemetry).
 */
export function commonGrpcAccessLogConfigSchema(what: { timeout: "taken" | string; retryPolicy?: "taken" | string; streamRetryPolicy: string }) {
  return lazySchema(() =>
    z.strictObject({
      log_name: z.string().min(1, { message: "must not be empty" }),
      grpc_service: grpcService({ timeout: what.timeout, ...(what.retryPolicy !== undefined ? { retryPolicy: what.retryPolicy } : {}) }),
      transport_api_version: z.enum(["V3"], { message: "must be V3 (Envoy refuses V2 and AUTO: the v2 xDS transport was removed)" }),
      buffer_flush_interval: durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }).default(1000),
      buffer_size_bytes: uint32.default(16384),
      filter_state_objects_to_log: unsupportedField("polyvoy's stream info keeps no serializable filter state objects", (v) => Array.isArray(v) && v.length === 0),
      grpc_stream_retry_policy: unsupportedField(what.streamRetryPolicy),
      custom_tags: unsupportedField("custom tags are not computed for access log entries", (v) => Array.isArray(v) && v.length === 0),
    }));
}
