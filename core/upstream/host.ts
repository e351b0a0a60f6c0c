import { formatAddress } from "../network/address.ts";

/**
 * Envoy's per-host stats (`HostStats`, shown by the admin's /clusters): plain numbers
 * held by the host, not in the stats store — as in Envoy, /reset_counters leaves them.
 * Updated by the HTTP/1 pools (connections and requests) and tcp_proxy (connections).
 */
export class HostStats {
  cxConnectFail = 0;
  cxTotal = 0;
  cxActive = 0;
  rqError = 0;
  rqSuccess = 0;
  rqTimeout = 0;
  rqTotal = 0;
  rqActive = 0;

  /** Counters then gauges, each by Envoy's name: /clusters prints them sorted by name. */
  counters(): [string, number][] {
    return [
      ["cx_connect_fail", this.cxConnectFail],
      ["cx_total", this.cxTotal],
      ["rq_error", this.rqError],
      ["rq_success", this.rqSuccess],
      ["rq_timeout", this.rqTimeout],
      ["rq_total", this.rqTotal],
    ];
  }

  gauges(): [string, number][] {
    return [
      ["cx_active", this.cxActive],
      ["rq_active", this.rqActive],
    ];
  }
}

/** One upstream endpoint of a cluster (Envoy's `Upstream::Host`). */
export class Host {
  readonly stats = new HostStats();

  constructor(
    readonly address: string,
    readonly port: number,
  ) {}

  private text: string | undefined;

  toString(): string {
    return (this.text ??= formatAddress(this));
  }
}
