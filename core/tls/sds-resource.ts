/**
 * An SDS file (path_config_source) read as Envoy's filesystem subscription reads it
 * (config/xds/discovery-response.ts): a DiscoveryResponse whose resources are Secrets;
 * then checked as SdsApi::onConfigUpdate checks them (sds_api.cc): exactly one, of the
 * expected name. Loaded on demand (sds-api.ts imports it when a file is read) so that
 * the validator's modules stay out of the proxy's heap until SDS is used.
 */
import type { SecretConfig } from "../config/bootstrap.ts";
import { decodeResource, readDiscoveryResponse, XdsUpdateError } from "../config/xds/discovery-response.ts";
import { secretSchema } from "./tls-context-schema.ts";

const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** The one Secret named `name` that the file at `path` (its text) holds; throws XdsUpdateError. */
export function readSecretResponse(text: string, path: string, name: string): SecretConfig {
  const { resources } = readDiscoveryResponse(text, path);
  // sds_api.cc, validateUpdateSize.
  if (resources.length === 0) throw new XdsUpdateError("rejected", `Missing SDS resources for ${name} in onConfigUpdate()`);
  if (resources.length !== 1) throw new XdsUpdateError("rejected", `Unexpected SDS secrets length: ${resources.length}`);
  const secret = decodeResource(resources[0], SECRET_TYPE, secretSchema, path, 0).value;
  if (secret.name !== name) throw new XdsUpdateError("rejected", `Unexpected SDS secret (expecting ${name}): ${secret.name}`);
  return secret;
}
