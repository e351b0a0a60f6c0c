/**
 * The requests a connection's broker has yet to answer, by correlation id: what the
 * response decoder needs to know a response's API (a Kafka response names only its
 * correlation id) and the filter to time it. Envoy keeps the same map without a bound
 * (contrib/kafka/filters/network/source/response_codec.h, expected_responses_; broker/
 * filter.cc, request_arrivals_), so a client's Produce requests with acks=0, which get no
 * response, stay in it for the connection's life. Here such requests are not added when
 * their acks can be read (kafka-produce-acks.ts), and the map holds at most `limit`: past
 * it the oldest request goes and `evicted` is set, after which the broker filter lets a
 * response with an unknown correlation id pass (counting `response.failure`) where Envoy,
 * which forgets nothing, would have counted it as its request's API.
 */
export interface InFlightRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  /** When the request's header was read (runtime.now() ms). */
  readonly arrivedAt: number;
}

/** Far above any client's pipelining (Kafka's max.in.flight.requests.per.connection defaults to 5). */
export const IN_FLIGHT_LIMIT = 1024;

export class KafkaInFlight {
  private readonly requests = new Map<number, InFlightRequest>();
  private evictedAny = false;

  constructor(private readonly limit: number = IN_FLIGHT_LIMIT) {}

  /** True once a request was dropped to make room: a response to no known request may be its. */
  get evicted(): boolean {
    return this.evictedAny;
  }

  get size(): number {
    return this.requests.size;
  }

  add(correlationId: number, request: InFlightRequest): void {
    // A reused id replaces the earlier request (Envoy's map assignment), and is the newest now.
    this.requests.delete(correlationId);
    if (this.requests.size >= this.limit) {
      this.requests.delete(this.requests.keys().next().value!);
      this.evictedAny = true;
    }
    this.requests.set(correlationId, request);
  }

  /** The request `correlationId` answers, taken out; undefined when there is none. */
  take(correlationId: number): InFlightRequest | undefined {
    const request = this.requests.get(correlationId);
    if (request !== undefined) this.requests.delete(correlationId);
    return request;
  }
}
