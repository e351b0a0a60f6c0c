/**
 * envoy.type.tracing.v3.CustomTag (api/envoy/type/tracing/v3/custom_tag.proto), as Envoy's
 * CustomTagUtility::createCustomTag builds it (source/common/tracing/custom_tag_impl.cc):
 * `tag` and exactly one of literal, environment, request_header, metadata, value (the
 * formatter tag, FormatterCustomTag: newer than the API polyvoy pins, so taken here by name;
 * from xDS its field 6 is read because scripts/gen-envoy-wire.mjs adds it to the wire table).
 * core/tracing/custom-tags.ts applies them.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CustomTagConfig } from "./bootstrap.ts";
import { headerName, oneOf } from "./proto-schema.ts";
import { metadataKey } from "./metadata-schema.ts";
import { FormatError, parseFormat } from "../access-log/format.ts";
import { resolveEnvironmentCommands } from "../access-log/environment-command.ts";
import { utf8ByteString } from "../access-log/byte-string.ts";

const empty = strictObject({});

/** envoy.type.metadata.v3.MetadataKind: one of request, route, cluster, host (each an empty message). */
const metadataKind = lazySchema(() =>
  strictObject({ request: empty.optional(), route: empty.optional(), cluster: empty.optional(), host: empty.optional() })
  .transform((k, ctx) => {
    const kind = oneOf(k, ["request", "route", "cluster", "host"] as const, ctx, true);
    return kind ?? z.NEVER;
  }));

export const customTag = lazySchema(() =>
  strictObject({
    tag: nonEmptyString,
    literal: strictObject({ value: nonEmptyString }).optional(),
    environment: strictObject({ name: nonEmptyString, default_value: stringEmpty }).optional(),
    request_header: strictObject({ name: headerName, default_value: stringEmpty }).optional(),
    metadata: strictObject({
      // Without a kind Envoy's MetadataCustomTag::metadata hits IS_ENVOY_BUG("Unknown config") on every span.
      kind: metadataKind,
      // Unset: no value is found (Config::Metadata::metadataValue of an empty key), the default is used.
      metadata_key: metadataKey.optional(),
      default_value: stringEmpty,
    }).optional(),
    value: z.string().optional(),
  })
  .transform((t, ctx): CustomTagConfig => {
    const kind = oneOf(t, ["literal", "environment", "request_header", "metadata", "value"] as const, ctx, true);
    switch (kind) {
      case "value": {
        // FormatterImpl::create with the built-in operators: a bad format is refused at load.
        let format = utf8ByteString(t.value!);
        try {
          format = resolveEnvironmentCommands(format);
          parseFormat(format);
        } catch (err) {
          if (!(err instanceof FormatError)) throw err;
          ctx.addIssue({ code: "custom", path: ["value"], message: err.message });
          return z.NEVER;
        }
        return { tag: t.tag, kind, format };
      }
      case "literal":
        return { tag: t.tag, kind, value: t.literal!.value };
      case "environment":
        return { tag: t.tag, kind, name: t.environment!.name, defaultValue: t.environment!.default_value };
      case "request_header":
        return { tag: t.tag, kind, name: t.request_header!.name, defaultValue: t.request_header!.default_value };
      case "metadata": {
        const m = t.metadata!;
        const key = m.metadata_key;
        return { tag: t.tag, kind, source: m.kind, key: key?.key ?? "", path: key?.path.map((p) => p.key) ?? [], defaultValue: m.default_value };
      }
      default:
        return z.NEVER;
    }
  }));

/**
 * custom_tags: Envoy keeps them in a map by tag name (CustomTagMap, filled with emplace in
 * ConnectionManagerTracingConfigImpl, tracer_config_impl.h): the first of a name is kept.
 */
export const customTags = lazySchema(() =>
  z.array(customTag).max(1000).transform((tags) => {
    const byName = new Map<string, CustomTagConfig>();
    for (const t of tags) if (!byName.has(t.tag)) byName.set(t.tag, t);
    return [...byName.values()];
  }));
