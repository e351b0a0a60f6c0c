import type { XdsConfigSource } from "../config/bootstrap.ts";
import { FilesystemSubscription } from "../config/xds/filesystem-subscription.ts";
import type { RawDiscoveryResponse } from "../config/xds/raw-discovery-response.ts";
import type { Subscription, SubscriptionContext } from "../config/xds/subscription-types.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import type { RuntimeLoader } from "./runtime-loader.ts";

const RUNTIME_TYPE = "type.googleapis.com/envoy.service.runtime.v3.Runtime";

/** Refuses an update (the filesystem subscription counts it in update_rejected). */
class RtdsUpdateError extends Error {
  readonly kind = "rejected";
}

/**
 * An rtds_layer fed from its rtds_config (Envoy's RtdsSubscription, runtime_impl.cc): a
 * file (a filesystem subscription) or a management server (GRPC, DELTA_GRPC, REST or ADS:
 * config/xds/subscription.ts, loaded then, subscribing to the one name). The one Runtime
 * resource, whose name must be the layer's, replaces the layer's values whole at each
 * update. Envoy's checks and messages: exactly one resource, the expected name.
 */
export async function startRtdsSubscription(context: SubscriptionContext, loader: RuntimeLoader, name: string, source: XdsConfigSource, scope: StatsScope): Promise<Subscription> {
  const onUpdate = async (response: RawDiscoveryResponse) => {
    if (response.resources.length !== 1) throw new RtdsUpdateError(`Unexpected RTDS resource length: ${response.resources.length}`);
    const resource = response.resources[0] as Record<string, unknown> | null;
    if (resource === null || typeof resource !== "object" || resource["@type"] !== RUNTIME_TYPE) throw new RtdsUpdateError(`the resource's "@type" must be ${RUNTIME_TYPE}`);
    if (resource["name"] !== name) throw new RtdsUpdateError(`Unexpected RTDS runtime (expecting ${name}): ${String(resource["name"])}`);
    const unknown = Object.keys(resource).filter((key) => key !== "@type" && key !== "name" && key !== "layer");
    if (unknown.length > 0) throw new RtdsUpdateError(`${unknown[0]} is not a field of envoy.service.runtime.v3.Runtime`);
    const layer = resource["layer"] ?? {};
    if (typeof layer !== "object" || layer === null || Array.isArray(layer)) throw new RtdsUpdateError("layer must be a Struct");
    const { flattenRuntimeLayer } = await import("../config/runtime-schema.ts");
    const { values, problems } = flattenRuntimeLayer(layer as Record<string, unknown>);
    if (problems.length > 0) throw new RtdsUpdateError(problems.join("; "));
    loader.setRtdsLayer(name, values);
  };
  if ("path" in source) return new FilesystemSubscription(context.runtime, context.log, `rtds '${name}'`, source, scope, onUpdate);
  const { createSubscription } = await import("../config/xds/subscription.ts");
  return createSubscription(context, `rtds '${name}'`, source, RUNTIME_TYPE, [name], scope, onUpdate);
}
