/**
 * Envoy's mixed HTTP connection pool for one upstream host (source/common/http/mixed_conn_pool.cc,
 * `HttpConnPoolImplMixed`), for a cluster with `auto_config`: each connection is opened
 * over TLS offering ALPN (by default `h2,http/1.1`) and speaks whatever the upstream
 * chose — HTTP/2 when it agreed on `h2`, HTTP/1.1 otherwise (another protocol, or none).
 *
 * Until the handshake a connection is an `AlpnProbeClient`, counted for as many streams
 * as an HTTP/2 connection would take (Envoy hopes for HTTP/2 too); once connected it is
 * replaced by an HTTP/1 or HTTP/2 client that takes over its connection, and the pool's
 * counts follow the new client's stream limit (an HTTP/1.1 connection takes one stream,
 * so more connections may open for the streams waiting). Each connection chooses anew, as
 * in Envoy: one pool may hold connections of both protocols.
 */
import type { Dispatcher } from "../event/dispatcher.ts";
import type { ConnectionEvent } from "../network/connection.ts";
import type { PortError } from "../port.ts";
import type { Cluster } from "./cluster.ts";
import { ActiveClient, ConnPoolImplBase } from "./conn-pool-base.ts";
import type { Host } from "./host.ts";
import { Http1ActiveClient, http1IdleLimit, type UpstreamCallbacks } from "./http1-conn-pool.ts";
import { Http2ActiveClient, initialStreamLimit } from "./http2-conn-pool.ts";

/** The ALPN name of HTTP/2 (RFC 9113 §3.2); anything else is spoken as HTTP/1.1, as Envoy's mixed pool does. */
const ALPN_H2 = "h2";

/** A connection of the mixed pool before its handshake chose the protocol (Envoy's use of a TCP ActiveClient there). */
class AlpnProbeClient extends ActiveClient {
  protected override readonly readyOnConnect = false;

  constructor(private readonly pool: MixedConnPool) {
    super(pool, initialStreamLimit(pool.cluster));
  }

  override onEvent(event: ConnectionEvent, error?: PortError): void {
    // Connected: the pool hands the connection to an HTTP client, which hears this event itself.
    if (event === "Connected") this.pool.onProbeConnected(this);
    else super.onEvent(event, error);
  }
}

type HttpActiveClient = Http1ActiveClient | Http2ActiveClient;

/** The mixed pool of one upstream host (see the file comment). */
export class MixedConnPool extends ConnPoolImplBase<ActiveClient, UpstreamCallbacks> {
  constructor(cluster: Cluster, host: Host, dispatcher: Dispatcher, idleTimeoutMs: number, serverName?: string) {
    super(cluster, host, dispatcher, idleTimeoutMs, serverName);
  }

  protected instantiateActiveClient(): ActiveClient {
    return new AlpnProbeClient(this);
  }

  /** @internal The probe's TLS handshake finished: an HTTP client of the protocol agreed takes over its connection. */
  onProbeConnected(probe: AlpnProbeClient): void {
    const alpn = probe.connection.socket.tls?.alpn;
    const client: HttpActiveClient = alpn === ALPN_H2 ? new Http2ActiveClient(this, probe) : new Http1ActiveClient(this, probe);
    this.replaceConnectingClient(probe, client);
    client.onEvent("Connected");
  }

  protected onPoolReady(client: ActiveClient, callbacks: UpstreamCallbacks): void {
    // Only HTTP clients are ever Ready: a probe becomes one before it takes a stream.
    (client as HttpActiveClient).attach(callbacks);
  }

  protected override idleLimitFor(client: ActiveClient): number {
    return client instanceof Http1ActiveClient ? http1IdleLimit(client, this.idleTimeoutMs) : super.idleLimitFor(client);
  }
}
