/** How addresses are shown (logs, default listener names, hosts): Envoy's `1.2.3.4:80` / `[::1]:80`. */
export function formatAddress(a: { readonly address: string; readonly port: number }): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
