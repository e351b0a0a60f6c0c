/**
 * An SDS file (path_config_source) read as Envoy's filesystem subscription reads it
 * (config_subscription/filesystem/filesystem_subscription_impl.cc): a DiscoveryResponse,
 * YAML or JSON by the file's extension, whose resources are Secrets; then checked as
 * SdsApi::onConfigUpdate checks them (sds_api.cc): exactly one, of the expected name.
 * Loaded on demand (sds-api.ts imports it when a file is read) so that the validator's
 * modules stay out of the proxy's heap until SDS is used.
 */
import { parseDocument } from "yaml";
import type { SecretConfig } from "../config/bootstrap.ts";
import { describeIssues } from "../config/describe-issues.ts";
import { ANY } from "../config/envoy-messages.ts";
import { readProtoTreeAs } from "../config/proto-json.ts";
import { secretSchema } from "./tls-context-schema.ts";

const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** Why an SDS file was not taken: it could not be read as a DiscoveryResponse (`failure`), or its content was refused (`rejected`). */
export class SdsUpdateError extends Error {
  constructor(
    readonly kind: "failure" | "rejected",
    message: string,
  ) {
    super(message);
  }
}

/** The one Secret named `name` that the file at `path` (its text) holds; throws SdsUpdateError. */
export function readSecretResponse(text: string, path: string, name: string): SecretConfig {
  let document: unknown;
  try {
    document = path.toLowerCase().endsWith(".json") ? JSON.parse(text) : parseYamlText(text);
  } catch (err) {
    throw new SdsUpdateError("failure", `${path}: cannot be parsed: ${oneLine(err)}`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new SdsUpdateError("failure", `${path}: not a DiscoveryResponse (a mapping with "resources")`);
  }
  const resources = (document as { resources?: unknown }).resources ?? [];
  if (!Array.isArray(resources)) throw new SdsUpdateError("failure", `${path}: resources: expected a list`);
  // sds_api.cc, validateUpdateSize.
  if (resources.length === 0) throw new SdsUpdateError("rejected", `Missing SDS resources for ${name} in onConfigUpdate()`);
  if (resources.length !== 1) throw new SdsUpdateError("rejected", `Unexpected SDS secrets length: ${resources.length}`);
  const resource: unknown = resources[0];
  const typeUrl = typeof resource === "object" && resource !== null ? (resource as Record<string, unknown>)["@type"] : undefined;
  if (typeUrl !== SECRET_TYPE) {
    throw new SdsUpdateError("rejected", `${path}: resources[0]: "@type" must be ${SECRET_TYPE}${typeUrl === undefined ? "" : ` (got ${String(typeUrl)})`}`);
  }
  const problems: string[] = [];
  const proto = readProtoTreeAs(resource, ANY, problems);
  const parsed = secretSchema.safeParse(proto.tree, { reportInput: true });
  if (!parsed.success) problems.push(...describeIssues(parsed.error.issues, proto));
  if (!parsed.success || problems.length > 0) throw new SdsUpdateError("rejected", `${path}: resources[0]: ${problems.join("; ")}`);
  if (parsed.data.name !== name) throw new SdsUpdateError("rejected", `Unexpected SDS secret (expecting ${name}): ${parsed.data.name}`);
  return parsed.data;
}

function parseYamlText(text: string): unknown {
  // logLevel "silent": the library would print its warnings; here they are the failure.
  const doc = parseDocument(text, { prettyErrors: false, logLevel: "silent" });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw problem;
  return doc.toJS();
}

function oneLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).replace(/\s+/g, " ").trim();
}
