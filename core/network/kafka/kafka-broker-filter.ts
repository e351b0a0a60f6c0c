/**
 * Envoy's kafka_broker network filter (contrib/kafka/filters/network/source/broker/
 * filter.cc): it reads the Kafka protocol both ways for stats and passes every byte on
 * unchanged to the next filter (tcp_proxy). A request counts as `<api>_request` (or
 * `unknown` for an API or version Envoy has no parser for, kafka-api-keys.ts) and is
 * remembered by its correlation id; the response carrying that id counts as
 * `<api>_response` with its `_duration`, or `unknown`.
 *
 * Where Envoy differs: it decodes each request's and response's whole body, and counts a
 * body that does not decode as `failure` (a deserializer throws) or `unknown` (bytes left
 * over); polyvoy reads the headers only and counts such a message by its header.
 *
 * A Produce request with acks=0 gets no response, so it is not remembered when its acks can
 * be read (kafka-produce-acks.ts); Envoy remembers it for the connection's life.
 *
 * A frame that cannot be read (kafka-headers.ts), or a response to no request, is Envoy's
 * exception: it counts `failure` and the filter returns StopIteration without draining, so
 * that direction's bytes no longer reach the other side. polyvoy does the same: after a
 * failed request the client's bytes are dropped, each later read counting one more
 * `request.failure`, and reading stops at the connection's buffer limit (stopRequests);
 * after a failed response the broker's bytes are dropped, each write counting one more
 * `response.failure` as Envoy's re-decoding of its unsent buffer does. Except once the
 * bounded in-flight map (kafka-in-flight.ts) forgot a request: a response to no known
 * request may then be that request's, which Envoy would have counted as its API, so it
 * passes, counting `response.failure` only — its frame's size still marks where the next
 * response starts, so nothing stalls.
 */
import type { Connection } from "../connection.ts";
import { FilterStatus, type ReadFilter } from "../filter.ts";
import type { ReadBuffer } from "../read-buffer.ts";
import { kafkaApi } from "./kafka-api-keys.ts";
import type { KafkaBrokerStats } from "./kafka-broker-stats.ts";
import { KafkaFrameReader } from "./kafka-frame-reader.ts";
import { RESPONSE_HEAD_SIZE, requestHeader, responseCorrelationId } from "./kafka-headers.ts";
import { KafkaInFlight } from "./kafka-in-flight.ts";
import { PRODUCE_API_KEY, REQUEST_READ_SIZE, produceAcks } from "./kafka-produce-acks.ts";

export class KafkaBrokerFilter implements ReadFilter {
  private readonly inFlight = new KafkaInFlight();
  private readonly requests = new KafkaFrameReader(REQUEST_READ_SIZE, (size, head) => this.onRequest(size, head));
  private readonly responses = new KafkaFrameReader(RESPONSE_HEAD_SIZE, (size, head) => this.onResponse(size, head));
  /** The client's bytes read since its request failed, and dropped: reading stops past the buffer limit. */
  private droppedRequestBytes = 0;

  constructor(
    private readonly stats: KafkaBrokerStats,
    private readonly connection: Connection,
    private readonly now: () => number,
  ) {
    // Envoy adds it as a read and a write filter: the broker's responses are read as they are written to the client.
    connection.addWriteFilter((data) => {
      if (this.responses.failed || !this.responses.feed(data)) {
        this.stats.responseFailure.inc();
        return false;
      }
      return true;
    });
  }

  initializeReadFilterCallbacks(): void {}

  onNewConnection(): FilterStatus {
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, _endStream: boolean): FilterStatus {
    // A read after the failure, the client's end of stream too: Envoy's filter returned
    // StopIteration without draining and reset its decoder, so each later read decodes the
    // held buffer from its start again, fails on the same request and counts it again
    // (broker/filter.cc, KafkaBrokerFilter::onData: onRequestException).
    if (this.requests.failed) {
      this.stats.requestFailure.inc();
      return this.stopRequests(buffer);
    }
    // All the buffer holds is new: the filter after this one (tcp_proxy) drains every read.
    for (let i = 0; i < buffer.chunkCount; i++) {
      if (!this.requests.feed(buffer.chunkAt(i))) {
        this.stats.requestFailure.inc();
        return this.stopRequests(buffer);
      }
    }
    return FilterStatus.Continue;
  }

  /**
   * The client's bytes go no further. Envoy leaves them in the read buffer, and reads on
   * until it holds the connection's buffer limit (its read buffer's high watermark disables
   * reading); here they are dropped as they come, counted, and reading stops once as many
   * have come since the failure: the broker gets none of them either way, nothing is held,
   * and the client gets as many later reads (each a `request.failure`) as under Envoy.
   */
  private stopRequests(buffer: ReadBuffer): FilterStatus {
    this.droppedRequestBytes += buffer.length;
    buffer.drainAll();
    const limit = this.connection.bufferLimit;
    if (limit > 0 && this.droppedRequestBytes > limit) this.connection.readDisable(true);
    return FilterStatus.StopIteration;
  }

  private onRequest(size: number, head: Uint8Array): boolean {
    const header = requestHeader(size, head);
    if (header === undefined) return false;
    const api = kafkaApi(header.apiKey, header.apiVersion);
    // Envoy's Forwarder expects a response to every request, decoded or not (broker/filter.cc),
    // even to a Produce with acks=0, which gets none: that one is left out to keep the bounded
    // map (kafka-in-flight.ts) for requests that will be answered.
    const unanswered = header.apiKey === PRODUCE_API_KEY && api !== undefined && produceAcks(header.apiVersion, api.maxVersion, size, head) === 0;
    if (!unanswered) this.inFlight.add(header.correlationId, { apiKey: header.apiKey, apiVersion: header.apiVersion, arrivedAt: this.now() });
    if (api === undefined) this.stats.requestUnknown.inc();
    else this.stats.requests[header.apiKey]!.inc();
    return true;
  }

  private onResponse(size: number, head: Uint8Array): boolean {
    const correlationId = responseCorrelationId(size, head);
    if (correlationId === undefined) return false;
    // Envoy throws "no response metadata registered for correlation_id" (kafka_response_parser.cc).
    const request = this.inFlight.take(correlationId);
    if (request === undefined) {
      if (!this.inFlight.evicted) return false;
      // Maybe the response to a request the bounded map forgot: counted, but not a stall.
      this.stats.responseFailure.inc();
      return true;
    }
    if (kafkaApi(request.apiKey, request.apiVersion) === undefined) {
      this.stats.responseUnknown.inc();
      return true;
    }
    this.stats.responses[request.apiKey]!.inc();
    // Whole milliseconds, as Envoy's duration_cast<milliseconds> (KafkaMetricsFacadeImpl::onMessage).
    this.stats.responseDurations[request.apiKey]!.record(Math.floor(this.now() - request.arrivedAt));
    return true;
  }
}
