import { nodeOs } from "./builtins.ts";

/**
 * The port's interfaceAddresses (core/port.ts) through node:os on Node and Bun:
 * networkInterfaces() is libuv's uv_interface_addresses, which walks getifaddrs(3) in its
 * order, as Envoy's Network::Utility::getLocalAddress does. node:os is loaded at the first
 * call (builtins.ts), i.e. at the first request that needs the address, not at start.
 */
export function interfaceAddresses(): string[] {
  const addresses: string[] = [];
  for (const list of Object.values(nodeOs().networkInterfaces())) {
    for (const entry of list ?? []) addresses.push(entry.address);
  }
  return addresses;
}
