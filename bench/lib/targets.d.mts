// Types for what the unit tests import from targets.mjs (the bench is plain Node ESM).

/** An Envoy v3 bootstrap, as JSON. */
export type BenchBootstrap = { static_resources: { listeners: object[]; clusters: object[] } };

/** The bench's polyvoy config: one listener proxying to the origin. */
export function polyvoyConfig(listenPort: number, originPort: number): BenchBootstrap;

/** The Kafka scenarios' two listeners (`ports.kafka`: tcp_proxy; `ports["kafka-filter"]`: kafka_broker + tcp_proxy) to the Kafka origin. */
export function withKafkaListeners(config: BenchBootstrap, ports: Record<string, number>, kafkaPort: number): BenchBootstrap;
