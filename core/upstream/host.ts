/** One upstream endpoint of a cluster (Envoy's `Upstream::Host`). */
export class Host {
  constructor(
    readonly address: string,
    readonly port: number,
  ) {}

  /** `127.0.0.1:8080`, or `[::1]:8080` for IPv6, as Envoy prints hosts. */
  toString(): string {
    return this.address.includes(":") ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }
}
