import type { FilterMetadata } from "../config/bootstrap.ts";
import type { AccessLogContext } from "../access-log/context.ts";
import type { SocketAddress, TlsSession } from "../port.ts";

/** A tcp_proxy connection as its access log lines see it (finished, or just connected upstream): the HTTP fields are empty. */
export class TcpAccessLogContext implements AccessLogContext {
  readonly protocol = undefined;
  readonly responseCode = 0;
  readonly responseCodeDetails = undefined;
  readonly routeName = undefined;
  /** %ACCESS_LOG_TYPE%: TcpConnectionEnd, or TcpUpstreamConnected for access_log_options.flush_access_log_on_connected. */
  accessLogType: "TcpConnectionEnd" | "TcpUpstreamConnected" = "TcpConnectionEnd";
  /** The downstream connection's TLS, when it has one. */
  downstreamTls: TlsSession | undefined;
  /** The SNI the tls_inspector read, "" when none. */
  requestedServerName: string | undefined;
  /** The tls_inspector's JA3 hash, "" when none. */
  ja3Hash: string | undefined;
  /** The upstream connection's TLS, when one was made over TLS. %UPSTREAM_TLS_VERSION% %UPSTREAM_PEER_SUBJECT% … */
  upstreamTls: TlsSession | undefined;
  /** The upstream connection's local address, once connected. %UPSTREAM_LOCAL_ADDRESS% */
  upstreamLocalAddress: SocketAddress | undefined;
  /** The connection's dynamic metadata (network filters such as postgres_proxy set it). %DYNAMIC_METADATA% */
  dynamicMetadata: Readonly<Record<string, Record<string, unknown>>> | undefined;
  /** Why a network filter closed the connection (network RBAC). %CONNECTION_TERMINATION_DETAILS% */
  connectionTerminationDetails: string | undefined;
  /** The upstream host's endpoint metadata. %UPSTREAM_METADATA% */
  upstreamHostMetadata: FilterMetadata | undefined;

  constructor(
    readonly startWallClock: number,
    readonly durationMs: number,
    readonly bytesReceived: number,
    readonly bytesSent: number,
    readonly responseFlags: readonly string[],
    readonly upstreamHost: string | undefined,
    readonly upstreamCluster: string,
    readonly downstreamRemoteAddress: SocketAddress | undefined,
    readonly downstreamLocalAddress: SocketAddress | undefined,
    readonly connectionId: number,
    readonly upstreamTransportFailureReason?: string | undefined,
    /** The socket's peer when a PROXY header named another client. */
    readonly downstreamDirectRemoteAddress?: SocketAddress | undefined,
  ) {}

  requestHeader(): undefined {
    return undefined;
  }
  responseHeader(): undefined {
    return undefined;
  }
  responseTrailer(): undefined {
    return undefined;
  }
}
