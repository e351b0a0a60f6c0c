/**
 * A DiscoveryResponse file read as Envoy's filesystem subscription reads it
 * (config_subscription/filesystem/filesystem_subscription_impl.cc): YAML or JSON by the
 * file's extension, `version_info` and `resources`, each resource an Any of the
 * subscription's type, checked with the same schemas as static_resources. Loaded on
 * demand (the subscriptions import it when a file is read) so that the validator's
 * modules stay out of the proxy's heap until xDS is used.
 */
import { parseDocument } from "yaml";
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import type * as z from "../schema-kit/index.ts";
import { describeIssues } from "../describe-issues.ts";
import { ANY } from "../envoy-messages.ts";
import { readProtoTreeAs, type ProtoTree } from "../proto-json.ts";
import { ConfigError } from "../errors.ts";

/**
 * Why a file was not taken: it could not be read as a DiscoveryResponse (`failure`,
 * Envoy's update_failure), or its content was refused (`rejected`, update_rejected).
 */
export class XdsUpdateError extends Error {
  constructor(
    readonly kind: "failure" | "rejected",
    message: string,
  ) {
    super(message);
  }
}

import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";

/** One resource, checked: the parsed config, and the resource as written (for /config_dump). */
export interface DecodedResource<T> {
  readonly value: T;
  readonly document: unknown;
}

/** The file's text (at `path`) as a DiscoveryResponse; throws XdsUpdateError("failure"). */
export function readDiscoveryResponse(text: string, path: string): RawDiscoveryResponse {
  let document: unknown;
  try {
    document = path.toLowerCase().endsWith(".json") ? JSON.parse(text) : parseYamlText(text);
  } catch (err) {
    throw new XdsUpdateError("failure", `${path}: cannot be parsed: ${oneLine(err)}`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new XdsUpdateError("failure", `${path}: not a DiscoveryResponse (a mapping with "resources")`);
  }
  const { resources = [], version_info: snake, versionInfo: camel } = document as { resources?: unknown; version_info?: unknown; versionInfo?: unknown };
  if (!Array.isArray(resources)) throw new XdsUpdateError("failure", `${path}: resources: expected a list`);
  const version = snake ?? camel ?? "";
  if (typeof version !== "string") throw new XdsUpdateError("failure", `${path}: version_info: expected a string`);
  return { versionInfo: version, resources };
}

/**
 * Check `resource` (resources[index] of the file at `path`) as an Any of `typeUrl`, with
 * `schema`; throws XdsUpdateError("rejected") naming every problem.
 */
export function decodeResource<T>(resource: unknown, typeUrl: string, schema: z.ZodType<T>, path: string, index: number): DecodedResource<T> {
  const at = `${path}: resources[${index}]`;
  const given = typeof resource === "object" && resource !== null ? (resource as Record<string, unknown>)["@type"] : undefined;
  if (given !== typeUrl) throw new XdsUpdateError("rejected", `${at}: "@type" must be ${typeUrl}${given === undefined ? "" : ` (got ${String(given)})`}`);
  const problems: string[] = [];
  let proto: ProtoTree;
  try {
    proto = readProtoTreeAs(resource, ANY, problems);
  } catch (err) {
    // A resource nested beyond protobuf's recursion limit (proto-json.ts).
    if (err instanceof ConfigError) throw new XdsUpdateError("rejected", `${at}: ${err.problems.join("; ")}`);
    throw err;
  }
  // The Any's type was checked above; the message's schema knows only its own fields.
  const tree = proto.tree as Record<string, unknown>;
  delete tree["@type"];
  const parsed = schema.safeParse(tree, { reportInput: true });
  if (!parsed.success) problems.push(...describeIssues(parsed.error.issues, proto));
  if (!parsed.success || problems.length > 0) throw new XdsUpdateError("rejected", `${at}: ${problems.join("; ")}`);
  return { value: parsed.data, document: tree };
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
