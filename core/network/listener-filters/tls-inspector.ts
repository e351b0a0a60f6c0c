import type { TlsInspectorConfig } from "../../config/bootstrap.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Histogram } from "../../stats/histogram.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { FilterStatus } from "../filter.ts";
import { ClientHelloParser } from "./client-hello-parser.ts";
import { md5Hex } from "../../util/md5.ts";
import { latin1Encode } from "../../util/latin1.ts";
import type { ListenerFilter, ListenerFilterBuffer, ListenerFilterCallbacks } from "./listener-filter.ts";

/**
 * Envoy's TLS_MAX_CLIENT_HELLO (tls_inspector.h): SSL3_RT_MAX_PLAIN_LENGTH, the largest
 * ClientHello BoringSSL takes; max_client_hello_size's default and upper bound.
 */
export const TLS_MAX_CLIENT_HELLO = 16384;

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
 * raw_buffer, or is closed with close_connection_on_client_hello_parsing_errors; a hello
 * still unfinished after max_client_hello_size bytes (16 KiB) closes it
 * (client_hello_too_large). Envoy's Filter::getParserState.
 */
export class TlsInspector implements ListenerFilter {
  readonly maxReadBytes: number;
  private readonly closeOnParsingErrors: boolean;
  private readonly parser: ClientHelloParser;
  private callbacks!: ListenerFilterCallbacks;

  constructor(
    private readonly stats: TlsInspectorStats,
    config: TlsInspectorConfig = {},
  ) {
    this.maxReadBytes = config.maxClientHelloSize ?? TLS_MAX_CLIENT_HELLO;
    this.closeOnParsingErrors = config.closeOnParsingErrors === true;
    this.parser = new ClientHelloParser(config.enableJa3Fingerprinting === true);
  }

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
        // Envoy records bytes_processed whenever the parse ends, an error too.
        stats.bytesProcessed.record(bytes.length);
        this.callbacks.close();
        return FilterStatus.StopIteration;
      case "not_tls":
        if (this.closeOnParsingErrors) {
          // Envoy counts no tls_not_found then; client_hello_too_large when the limit was reached.
          if (bytes.length >= this.maxReadBytes) stats.clientHelloTooLarge.inc();
          stats.bytesProcessed.record(bytes.length);
          this.callbacks.close();
          return FilterStatus.StopIteration;
        }
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
        // Envoy's createJA3Hash: the fingerprint's MD5 in hex, on the socket (ASCII text: digits, "," and "-").
        if (result.ja3 !== undefined) socket.setJa3Hash(md5Hex(latin1Encode(result.ja3)));
        break;
      }
    }
    stats.bytesProcessed.record(bytes.length);
    return FilterStatus.Continue;
  }
}
