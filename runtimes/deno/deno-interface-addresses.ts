import { Deno } from "./deno-api.ts";

/**
 * The port's interfaceAddresses on Deno: Deno.networkInterfaces() (getifaddrs(3) order), not
 * node:os (runtimes/README.md, "Deno: no node: module on the start path"). Only when the
 * sys permission for it is already granted: under a narrowed --allow-sys, Deno would ask on
 * a terminal and hold the request on the answer; then none, and the core falls back to
 * 127.0.0.1 as Envoy does when getifaddrs gives nothing.
 */
export function denoInterfaceAddresses(): string[] {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state !== "granted") return [];
    return Deno.networkInterfaces().map((entry) => entry.address);
  } catch {
    return [];
  }
}
