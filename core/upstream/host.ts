import { formatAddress } from "../network/address.ts";

/** One upstream endpoint of a cluster (Envoy's `Upstream::Host`). */
export class Host {
  constructor(
    readonly address: string,
    readonly port: number,
  ) {}

  toString(): string {
    return formatAddress(this);
  }
}
