/**
 * The admin's /runtime and /runtime_modify (Envoy's RuntimeHandler,
 * source/server/admin/runtime_handler.cc): the layers and every key's value in each,
 * and overrides set in the admin layer.
 */
import { NoAdminLayerError, type RuntimeLoader } from "../runtime/runtime-loader.ts";
import type { AdminRequest, AdminResponse } from "./admin-handler.ts";

const TEXT = "text/plain; charset=UTF-8";

/**
 * GET /runtime: `layers` (their names, in order) and `entries`, each key (sorted) with
 * its raw value in every layer ("" where a layer lacks it) and the last non-empty one as
 * `final_value` — Envoy's shape, pretty-printed as its protobuf JSON printer does.
 */
export function runtimeAsJson(runtime: RuntimeLoader): string {
  const layers = runtime.getLayers();
  const keys = new Set<string>();
  for (const layer of layers) for (const key of layer.values.keys()) keys.add(key);
  const entries: Record<string, { layer_values: string[]; final_value: string }> = {};
  for (const key of [...keys].sort()) {
    let finalValue = "";
    const layerValues = layers.map((layer) => {
      const value = layer.values.get(key)?.raw ?? "";
      if (value !== "") finalValue = value;
      return value;
    });
    entries[key] = { layer_values: layerValues, final_value: finalValue };
  }
  return JSON.stringify({ layers: layers.map((layer) => layer.name), entries }, null, 4);
}

/**
 * POST /runtime_modify?key=value&…: the query's parameters, or else a form body's, merged
 * into the admin layer ("" removes a key). Without parameters, 400 and the usage;
 * without an admin layer, 503 (Envoy's answers).
 */
export function runtimeModify(runtime: RuntimeLoader, request: AdminRequest): AdminResponse {
  const params = request.query.size > 0 ? request.query : (request.form ?? request.query);
  if (params.size === 0) {
    return {
      status: 400,
      contentType: TEXT,
      body: "usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n       or send the parameters as form values\nuse an empty value to remove a previously added override",
    };
  }
  try {
    runtime.mergeValues(params);
  } catch (err) {
    if (!(err instanceof NoAdminLayerError)) throw err;
    return { status: 503, contentType: TEXT, body: err.message };
  }
  return { status: 200, contentType: TEXT, body: "OK\n" };
}
