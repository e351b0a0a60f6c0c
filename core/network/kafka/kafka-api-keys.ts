/**
 * The Kafka APIs Envoy's kafka_broker filter decodes: the message types of Kafka 3.5.1
 * (clients/src/main/resources/common/message/*.json), apart from ConsumerGroupHeartbeat
 * (api key 68), which Envoy leaves out (docs/root/configuration/listeners/network_filters/
 * kafka_broker_filter.rst). Envoy generates one `<name>_request` and one `<name>_response`
 * counter for each (contrib/kafka/filters/network/source/protocol/request_metrics_h.j2,
 * response_metrics_h.j2); a request or response of a key outside this table, or of a
 * version above the key's highest here, has no parser there and counts as `unknown`.
 *
 * Envoy's later builds pin a Kafka 3.9.x source (bazel/repository_locations.bzl,
 * `kafka_source`): not yet followed here — the 3.9 message definitions and Envoy's generator
 * exclusions for it were not readable when this was last checked, so the rows stay 3.5.1's
 * (pinned by test/unit/network/kafka/kafka-broker-filter.test.ts).
 */

export interface KafkaApi {
  /** The message name in snake case, as Envoy's generator spells it (`name_in_c_case`): "api_versions". */
  readonly name: string;
  /** The highest version Kafka 3.5.1 defines; every API starts at version 0. */
  readonly maxVersion: number;
}

/** Indexed by api key: [name, highest version]. */
const APIS: readonly (readonly [string, number])[] = [
  ["produce", 9], // 0
  ["fetch", 15],
  ["list_offsets", 8],
  ["metadata", 12],
  ["leader_and_isr", 7],
  ["stop_replica", 4], // 5
  ["update_metadata", 8],
  ["controlled_shutdown", 3],
  ["offset_commit", 8],
  ["offset_fetch", 8],
  ["find_coordinator", 4], // 10
  ["join_group", 9],
  ["heartbeat", 4],
  ["leave_group", 5],
  ["sync_group", 5],
  ["describe_groups", 5], // 15
  ["list_groups", 4],
  ["sasl_handshake", 1],
  ["api_versions", 3],
  ["create_topics", 7],
  ["delete_topics", 6], // 20
  ["delete_records", 2],
  ["init_producer_id", 4],
  ["offset_for_leader_epoch", 4],
  ["add_partitions_to_txn", 4],
  ["add_offsets_to_txn", 3], // 25
  ["end_txn", 3],
  ["write_txn_markers", 1],
  ["txn_offset_commit", 3],
  ["describe_acls", 3],
  ["create_acls", 3], // 30
  ["delete_acls", 3],
  ["describe_configs", 4],
  ["alter_configs", 2],
  ["alter_replica_log_dirs", 2],
  ["describe_log_dirs", 4], // 35
  ["sasl_authenticate", 2],
  ["create_partitions", 3],
  ["create_delegation_token", 3],
  ["renew_delegation_token", 2],
  ["expire_delegation_token", 2], // 40
  ["describe_delegation_token", 3],
  ["delete_groups", 2],
  ["elect_leaders", 2],
  ["incremental_alter_configs", 1],
  ["alter_partition_reassignments", 0], // 45
  ["list_partition_reassignments", 0],
  ["offset_delete", 0],
  ["describe_client_quotas", 1],
  ["alter_client_quotas", 1],
  ["describe_user_scram_credentials", 0], // 50
  ["alter_user_scram_credentials", 0],
  ["vote", 0],
  ["begin_quorum_epoch", 0],
  ["end_quorum_epoch", 0],
  ["describe_quorum", 1], // 55
  ["alter_partition", 3],
  ["update_features", 1],
  ["envelope", 0],
  ["fetch_snapshot", 0],
  ["describe_cluster", 0], // 60
  ["describe_producers", 0],
  ["broker_registration", 1],
  ["broker_heartbeat", 0],
  ["unregister_broker", 0],
  ["describe_transactions", 0], // 65
  ["list_transactions", 0],
  ["allocate_producer_ids", 0],
];

export const KAFKA_APIS: readonly KafkaApi[] = APIS.map(([name, maxVersion]) => ({ name, maxVersion }));

/** The API Envoy has a parser for at this key and version, or undefined (Envoy's `unknown`). */
export function kafkaApi(apiKey: number, apiVersion: number): KafkaApi | undefined {
  const api = KAFKA_APIS[apiKey];
  return api !== undefined && apiVersion >= 0 && apiVersion <= api.maxVersion ? api : undefined;
}
