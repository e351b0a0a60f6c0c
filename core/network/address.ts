import type { SocketAddress } from "../port.ts";

/**
 * How addresses are shown (logs, default listener names, hosts, /clusters, /listeners):
 * Envoy's `1.2.3.4:80` / `[::1]:80`; a Unix domain socket (a SocketAddress of family
 * "unix", a config address with `pipe`) as its path alone, `@name` for an abstract one
 * (PipeInstance::asString, source/common/network/address_impl.cc).
 */
export function formatAddress(a: { readonly address: string; readonly port: number; readonly family?: 4 | 6 | "unix"; readonly pipe?: unknown }): string {
  if (a.family === "unix" || a.pipe) return a.address;
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** A Unix domain socket's address (Envoy's Address::Type::Pipe), not an IP one. */
export function isPipeAddress(a: SocketAddress | undefined): boolean {
  return a?.family === "unix";
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a dual-stack socket on `::` reports an
 * IPv4 peer and its own address) as the IPv4 address it carries; any other address as it is.
 * Envoy's Address::addressFromSockAddr does the same on a socket that is not v6only.
 */
export function unmapIpv4(a: SocketAddress | undefined): SocketAddress | undefined {
  if (a === undefined || !a.address.startsWith("::ffff:")) return a;
  const tail = a.address.slice(7);
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(tail)) return a;
  return { address: tail, port: a.port, family: 4 };
}
