/**
 * What one GrpcJsonTranscoder config amounts to (Envoy's JsonTranscoderConfig,
 * json_transcoder_filter.cc): its descriptor set decoded, every method of its `services`
 * registered with the path matcher by its google.api.http rule (and additional bindings) or,
 * with auto_mapping and no rule, as `POST /pkg.Service/Method` with body "*". Built when the
 * config is checked (a problem is Envoy's "transcoding_filter: …" line) and again, once per
 * config object, where a listener uses it.
 */
import type { GrpcJsonTranscoderConfig } from "../config/bootstrap.ts";
import { decodeDescriptorSet } from "./descriptor-set.ts";
import { DescriptorError, type DescriptorPool, type FieldBinding, type MessageDescriptor, type MethodDescriptor } from "./descriptors.ts";
import { HttpTemplateError } from "./http-template.ts";
import { DuplicateRuleError, PathMatcherBuilder, type PathMatcher } from "./path-matcher.ts";

export const HTTP_BODY = "google.api.HttpBody";

/** One registered rule of a method (MethodInfo in json_transcoder_filter.h). */
export interface MethodInfo {
  readonly method: MethodDescriptor;
  /** The rule's body: "" none, "*" the whole message, or a top-level field's name. */
  readonly body: string;
  /** The request message (body "*" or "") or its body field is a google.api.HttpBody: the raw body goes there. */
  readonly requestIsHttpBody: boolean;
  /** The body field's number, for an HttpBody body field. */
  readonly requestBodyFieldNumber: number | undefined;
  /** The response (or its response_body field) is a google.api.HttpBody: its data is the response. */
  readonly responseIsHttpBody: boolean;
  readonly responseBodyFieldNumber: number | undefined;
}

export interface Transcoder {
  readonly pool: DescriptorPool;
  readonly matcher: PathMatcher<MethodInfo>;
}

/** A config Envoy refuses when it loads; the message is Envoy's. */
export class TranscoderConfigError extends Error {}

export function buildTranscoder(config: GrpcJsonTranscoderConfig): Transcoder {
  let pool: DescriptorPool;
  try {
    pool = decodeDescriptorSet(config.descriptorSet);
  } catch (error) {
    if (!(error instanceof DescriptorError)) throw error;
    throw new TranscoderConfigError(`transcoding_filter: Unable to parse proto descriptor (${error.message})`);
  }
  const builder = new PathMatcherBuilder<MethodInfo>();
  const ignored = new Set(config.ignoredQueryParameters);
  for (const serviceName of config.services) {
    const service = pool.service(serviceName);
    if (service === undefined) throw new TranscoderConfigError(`transcoding_filter: Could not find '${serviceName}' in the proto descriptor`);
    for (const method of service.methods) {
      const fullName = `${service.fullName}.${method.name}`;
      const rules =
        method.httpRules.length > 0
          ? method.httpRules
          : config.autoMapping
            ? [{ method: "POST", pattern: `/${service.fullName}/${method.name}`, body: "*", responseBody: "" }]
            : [];
      for (const rule of rules) {
        let info: MethodInfo;
        try {
          info = methodInfo(method, rule.body, rule.responseBody);
        } catch (error) {
          if (!(error instanceof TranscoderConfigError)) throw error;
          throw new TranscoderConfigError(`transcoding_filter: Cannot register '${fullName}': ${error.message}`);
        }
        try {
          builder.register(rule.method, rule.pattern, rule.body, ignored, info);
        } catch (error) {
          if (!(error instanceof HttpTemplateError) && !(error instanceof DuplicateRuleError)) throw error;
          throw new TranscoderConfigError(`transcoding_filter: Cannot register '${fullName}' to path matcher (${error.message})`);
        }
      }
    }
  }
  const matcher = builder.build({
    urlUnescapeSpec: config.urlUnescapeSpec,
    queryParamUnescapePlus: config.queryParamUnescapePlus,
    matchUnregisteredCustomVerb: config.matchUnregisteredCustomVerb,
  });
  return { pool, matcher };
}

/** JsonTranscoderConfig::createMethodInfo: the body and response_body fields resolved. */
function methodInfo(method: MethodDescriptor, body: string, responseBody: string): MethodInfo {
  const request = bodyField(method.input, body === "*" ? "" : body);
  const response = bodyField(method.output, responseBody);
  if (responseBody !== "" && !response.isHttpBody) {
    throw new TranscoderConfigError(`Setting "response_body" is not supported yet for non-HttpBody fields: ${method.grpcPath.slice(1).replace("/", ".")}`);
  }
  return {
    method,
    body,
    requestIsHttpBody: request.isHttpBody,
    requestBodyFieldNumber: request.number,
    responseIsHttpBody: response.isHttpBody,
    responseBodyFieldNumber: response.number,
  };
}

function bodyField(message: MessageDescriptor, name: string): { isHttpBody: boolean; number: number | undefined } {
  if (name === "") return { isHttpBody: message.fullName === HTTP_BODY, number: undefined };
  const field = message.field(name);
  if (field === undefined) throw new TranscoderConfigError(`Could not find field "${name}" in the type "${message.fullName}".`);
  return { isHttpBody: field.message?.fullName === HTTP_BODY && !field.repeated, number: field.number };
}

/**
 * TypeHelper::ResolveFieldPath for each binding: its field path names fields down from the
 * request message (each but the last a message). An unknown one is skipped with
 * `ignoreUnknown` (ignore_unknown_query_parameters), else it is the error Envoy answers with.
 */
export function resolveBindings(message: MessageDescriptor, bindings: readonly FieldBinding[], ignoreUnknown: boolean): { bindings: FieldBinding[] } | { error: string } {
  const out: FieldBinding[] = [];
  next: for (const binding of bindings) {
    let type: MessageDescriptor | undefined = message;
    for (const name of binding.fieldPath) {
      const field: ReturnType<MessageDescriptor["field"]> = type?.field(name);
      if (field === undefined) {
        if (ignoreUnknown) continue next;
        return { error: `Could not find field "${name}" in the type "${type?.fullName ?? message.fullName}".` };
      }
      type = field.message;
    }
    out.push(binding);
  }
  return { bindings: out };
}
