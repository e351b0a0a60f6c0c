import type { AccessLogContext } from "../access-log/context.ts";
import type { SocketAddress } from "../port.ts";

/**
 * A downstream connection as a listener's access_log sees it when it ends (Envoy's
 * ActiveTcpConnection and ActiveTcpSocket emitLogs): the connection's addresses, bytes
 * and lifetime; no HTTP fields and no upstream. A socket that never became a connection
 * (closed by a listener filter, or no filter chain matched: flag NR) is logged too.
 */
export class ListenerAccessLogContext implements AccessLogContext {
  readonly protocol = undefined;
  readonly responseCode = 0;
  readonly responseCodeDetails = undefined;
  readonly routeName = undefined;
  readonly upstreamHost = undefined;
  readonly upstreamCluster = undefined;
  /** Why a network filter closed the connection (network RBAC). %CONNECTION_TERMINATION_DETAILS% */
  connectionTerminationDetails: string | undefined = undefined;
  /** What the connection's network filters wrote (rbac's results, …): Envoy's listener log reads the connection's own StreamInfo. */
  dynamicMetadata: Readonly<Record<string, Record<string, unknown>>> | undefined = undefined;

  constructor(
    readonly startWallClock: number,
    readonly durationMs: number,
    readonly bytesReceived: number,
    readonly bytesSent: number,
    readonly responseFlags: readonly string[],
    readonly downstreamRemoteAddress: SocketAddress | undefined,
    readonly downstreamLocalAddress: SocketAddress | undefined,
    readonly downstreamDirectRemoteAddress: SocketAddress | undefined,
    readonly connectionId: number | undefined,
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
