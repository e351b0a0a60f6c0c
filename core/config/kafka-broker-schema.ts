/**
 * envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker
 * (api/contrib/envoy/extensions/filters/network/kafka_broker/v3/kafka_broker.proto).
 * polyvoy reads the Kafka headers only (core/network/kafka/): rewriting the broker's
 * responses needs their bodies decoded and encoded again, so force_response_rewrite and
 * the broker address rewrite are refused but at their defaults; so are the newer
 * api_keys_allowed / api_keys_denied, whose refused requests Envoy closes the connection on.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import type { KafkaBrokerConfig } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";
import { isEmptyList, isFalse, unsupportedField } from "./unsupported-field.ts";

const NO_BODIES = "polyvoy's Kafka broker filter reads the message headers only, not the Metadata, FindCoordinator and DescribeCluster response bodies a rewrite needs";

export const kafkaBrokerConfig: z.ZodType<KafkaBrokerConfig> = lazySchema(() =>
  strictObject({
      stat_prefix: nonEmptyString,
      force_response_rewrite: unsupportedField(`only false: ${NO_BODIES}`, isFalse),
      id_based_broker_address_rewrite_spec: unsupportedField(NO_BODIES),
      api_keys_allowed: unsupportedField("only empty: polyvoy's Kafka broker filter does not filter requests by API key", isEmptyList),
      api_keys_denied: unsupportedField("only empty: polyvoy's Kafka broker filter does not filter requests by API key", isEmptyList),
    })
    .transform((c): KafkaBrokerConfig => ({ statPrefix: c.stat_prefix })));
