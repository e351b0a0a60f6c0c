/**
 * ext_proc's per-route config (ExtProcPerRoute in typed_per_filter_config) as Envoy merges
 * it (ext_proc.cc FilterConfigPerRoute's merging constructor, Filter::mergePerRouteConfig):
 * every level that has one, the least specific first (route configuration, virtual host,
 * route), each more specific level over the one before —
 * - disabled: the most specific level's (a level with overrides re-enables the filter);
 * - processing_mode, grpc_service, failure_mode_allow: the most specific level that sets it
 *   (a disabled level drops a processing_mode set before it);
 * - grpc_initial_metadata: gathered, a more specific entry replacing those of its key.
 * The result is applied once, at the request headers: a route picked again after a route
 * cache clear does not change it (Envoy's route_config_merged_).
 */
import type { ExtProcPerRouteConfig, ExtProcProcessingMode, GrpcServiceTarget } from "../../config/bootstrap.ts";

export interface ExtProcRouteSettings {
  disabled: boolean;
  processingMode?: ExtProcProcessingMode;
  grpc?: GrpcServiceTarget;
  grpcTimeoutMs?: number;
  grpcInitialMetadata: readonly (readonly [string, string])[];
  failureModeAllow?: boolean;
}

/** The levels' configs merged; undefined when no level has one. */
export function mergeExtProcPerRoute(levels: readonly ExtProcPerRouteConfig[]): ExtProcRouteSettings | undefined {
  let merged: ExtProcRouteSettings | undefined;
  for (const level of levels) {
    const o = level.overrides;
    const more: ExtProcRouteSettings = {
      disabled: level.disabled,
      ...(o?.processingMode !== undefined && { processingMode: o.processingMode }),
      ...(o?.grpc !== undefined && { grpc: o.grpc, ...(o.grpcTimeoutMs !== undefined && { grpcTimeoutMs: o.grpcTimeoutMs }) }),
      grpcInitialMetadata: o?.grpcInitialMetadata ?? [],
      ...(o?.failureModeAllow !== undefined && { failureModeAllow: o.failureModeAllow }),
    };
    merged = merged === undefined ? more : mergeTwo(merged, more);
  }
  return merged;
}

function mergeTwo(less: ExtProcRouteSettings, more: ExtProcRouteSettings): ExtProcRouteSettings {
  const processingMode = more.disabled ? undefined : (more.processingMode ?? less.processingMode);
  const service = more.grpc !== undefined ? more : less;
  const failureModeAllow = more.failureModeAllow ?? less.failureModeAllow;
  return {
    disabled: more.disabled,
    ...(processingMode !== undefined && { processingMode }),
    ...(service.grpc !== undefined && { grpc: service.grpc, ...(service.grpcTimeoutMs !== undefined && { grpcTimeoutMs: service.grpcTimeoutMs }) }),
    grpcInitialMetadata: mergeMetadata(less.grpcInitialMetadata, more.grpcInitialMetadata),
    ...(failureModeAllow !== undefined && { failureModeAllow }),
  };
}

/** Envoy's mergeHeaderValues: each entry of `more` replaces every entry of its key in `base`, or is appended. */
export function mergeMetadata(base: readonly (readonly [string, string])[], more: readonly (readonly [string, string])[]): readonly (readonly [string, string])[] {
  if (more.length === 0) return base;
  const out = base.map((e) => [e[0], e[1]] as [string, string]);
  for (const [key, value] of more) {
    let found = false;
    for (const entry of out) {
      if (entry[0] !== key) continue;
      entry[1] = value;
      found = true;
    }
    if (!found) out.push([key, value]);
  }
  return out;
}
