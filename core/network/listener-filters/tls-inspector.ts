import type { Counter } from "../../stats/counter.ts";
import type { Histogram } from "../../stats/histogram.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { FilterStatus } from "../filter.ts";
import { ClientHelloParser } from "./client-hello-parser.ts";
import type { ListenerFilter, ListenerFilterBuffer, ListenerFilterCallbacks } from "./listener-filter.ts";

/** Envoy's TLS_MAX_CLIENT_HELLO: the inspector reads no more than 64 KiB. */
export const TLS_MAX_CLIENT_HELLO = 64 * 1024;

/** Envoy's tls_inspector stats, `tls_inspector.*` (a listener filter's stats are not per listener). */
export class TlsInspectorStats {
  readonly clientHelloTooLarge: Counter;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly bytesProcessed: Histogram;

  constructor(store: StatsStore) {
    const scope = store.scope("tls_inspector.");
    this.clientHelloTooLarge = scope.counter("client_hello_too_large");
    this.tlsFound = scope.counter("tls_found");
    this.tlsNotFound = scope.counter("tls_not_found");
    this.alpnFound = scope.counter("alpn_found");
    this.alpnNotFound = scope.counter("alpn_not_found");
    this.sniFound = scope.counter("sni_found");
    this.sniNotFound = scope.counter("sni_not_found");
    this.bytesProcessed = scope.histogram("bytes_processed", "bytes");
  }
}

/**
 * envoy.filters.listener.tls_inspector: whether the connection starts with a TLS
 * ClientHello, and its SNI and ALPN, for filter_chain_match's transport_protocol,
 * server_names and application_protocols. Reads without consuming: the bytes go on to
 * the chosen chain. Not TLS (or a malformed hello): the connection goes on as
 * raw_buffer; a hello still unfinished after 64 KiB closes it (client_hello_too_large).
 */
export class TlsInspector implements ListenerFilter {
  readonly maxReadBytes = TLS_MAX_CLIENT_HELLO;
  private readonly parser = new ClientHelloParser();
  private callbacks!: ListenerFilterCallbacks;

  constructor(private readonly stats: TlsInspectorStats) {}

  onAccept(callbacks: ListenerFilterCallbacks): FilterStatus {
    this.callbacks = callbacks;
    return FilterStatus.StopIteration;
  }

  onData(buffer: ListenerFilterBuffer): FilterStatus {
    const bytes = buffer.bytes;
    const result = this.parser.parse(bytes);
    const stats = this.stats;
    switch (result.kind) {
      case "more":
        if (bytes.length < this.maxReadBytes) return FilterStatus.StopIteration;
        stats.clientHelloTooLarge.inc();
        this.callbacks.close();
        return FilterStatus.StopIteration;
      case "not_tls":
        stats.tlsNotFound.inc();
        break;
      case "client_hello": {
        const socket = this.callbacks.socket;
        stats.tlsFound.inc();
        if (result.serverName !== "") {
          stats.sniFound.inc();
          socket.setRequestedServerName(result.serverName);
        } else {
          stats.sniNotFound.inc();
        }
        if (result.alpn.length > 0) {
          stats.alpnFound.inc();
          socket.setRequestedApplicationProtocols(result.alpn);
        } else {
          stats.alpnNotFound.inc();
        }
        socket.setDetectedTransportProtocol("tls");
        break;
      }
    }
    stats.bytesProcessed.record(bytes.length);
    return FilterStatus.Continue;
  }
}
