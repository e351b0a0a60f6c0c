/**
 * SDS resources checked as SdsApi::onConfigUpdate checks them (sds_api.cc): exactly one
 * Secret, of the expected name, valid by the static secrets' schema. An SDS file
 * (path_config_source) is first read as Envoy's filesystem subscription reads it
 * (config/xds/discovery-response.ts): a DiscoveryResponse whose resources are Secrets;
 * a management server's update comes decoded (config/xds/grpc-subscription.ts). Loaded
 * on demand (sds-api.ts imports it when a secret is read) so that the validator's
 * modules stay out of the proxy's heap until SDS is used.
 */
import type { SecretConfig } from "../config/bootstrap.ts";
import { decodeResource, readDiscoveryResponse, XdsUpdateError } from "../config/xds/discovery-response.ts";
import { secretSchema } from "./tls-context-schema.ts";

export const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** A Secret as checked, and as written (snake_case, without its "@type": /config_dump shows it). */
export interface DeliveredSecret {
  readonly config: SecretConfig;
  readonly document: unknown;
}

/** The one Secret named `name` that the file at `path` (its text) holds, and the file's version_info; throws XdsUpdateError. */
export function readSecretResponse(text: string, path: string, name: string): DeliveredSecret & { readonly versionInfo: string } {
  const response = readDiscoveryResponse(text, path);
  return { ...readSecretResources(response.resources, path, name), versionInfo: response.versionInfo };
}

/** The one Secret named `name` among `resources` (from `origin`, for the errors); throws XdsUpdateError. */
export function readSecretResources(resources: readonly unknown[], origin: string, name: string): DeliveredSecret {
  // sds_api.cc, validateUpdateSize.
  if (resources.length === 0) throw new XdsUpdateError("rejected", `Missing SDS resources for ${name} in onConfigUpdate()`);
  if (resources.length !== 1) throw new XdsUpdateError("rejected", `Unexpected SDS secrets length: ${resources.length}`);
  const { value: secret, document } = decodeResource(resources[0], SECRET_TYPE, secretSchema, origin, 0);
  if (secret.name !== name) throw new XdsUpdateError("rejected", `Unexpected SDS secret (expecting ${name}): ${secret.name}`);
  return { config: secret, document };
}
