/**
 * Serving Envoy's own example configs (test/fixtures/envoy-examples) as written but for
 * where things are: their listeners and admin on free 127.0.0.1 ports, their upstream host
 * names (docker-compose services in Envoy's sandboxes: service1, backend-service, …) mapped
 * to 127.0.0.1 and real upstreams, a TLS key and certificate minted at test time in place of
 * the placeholders (README there). The e2e files that serve examples share these.
 */
import { execFile } from "node:child_process";
import * as https from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as yamlParse } from "yaml";
import { freePort } from "./net-helpers.ts";
import { ROOT } from "./proxy-process.ts";
import { mintTestCerts, type TestCerts } from "./test-certs.ts";

export type Json = Record<string, any>;

export const FIXTURES = join(ROOT, "test/fixtures/envoy-examples");

let minted: TestCerts | undefined;
/** The certificates minted once per test file (SANs: localhost, 127.0.0.1, example.com). */
export function exampleCerts(): TestCerts {
  minted ??= mintTestCerts();
  return minted;
}

/** The example's PEM placeholders (every one) replaced by the minted server certificate and key, kept at their indentation. */
export function withMintedPem(text: string): string {
  const certs = exampleCerts();
  const pem = (block: string, indent: string) => block.trimEnd().split("\n").map((line) => `${indent}${line}`).join("\n");
  return text
    .replace(/^( *)-----BEGIN CERTIFICATE-----\n\s*\(the example's self-signed certificate: minted at test time\)\n\s*-----END CERTIFICATE-----/gm, (_, indent: string) => pem(certs.read(certs.server.cert), indent))
    .replace(/^( *)-----BEGIN PRIVATE KEY-----\n\s*\(the example's private key: minted at test time\)\n\s*-----END PRIVATE KEY-----/gm, (_, indent: string) => pem(certs.read(certs.server.key), indent));
}

export interface Localized {
  config: Json;
  /** The example's own listener port → the free port it listens on now. */
  port(examplePort: number): number;
}

/**
 * The example with its listeners and admin on free 127.0.0.1 ports, each endpoint named in
 * `upstreams` (host name → port) at 127.0.0.1 and that port, and an endpoint at one of the
 * example's own ports (its admin, as the local_ratelimit and gzip examples route
 * /stats/prometheus there) moved along with it.
 */
export async function localize(file: string, upstreams: Record<string, number>, change?: (config: Json) => void): Promise<Localized> {
  const config = yamlParse(withMintedPem(readFileSync(join(FIXTURES, file), "utf8"))) as Json;
  const ports = new Map<number, number>();
  const move = async (socketAddress: Json) => {
    // Free now but not yet bound: two of this config's addresses must not get the same one.
    let port = await freePort();
    while ([...ports.values()].includes(port)) port = await freePort();
    ports.set(socketAddress.port_value, port);
    socketAddress.address = "127.0.0.1";
    socketAddress.port_value = port;
  };
  for (const listener of config.static_resources.listeners ?? []) await move(listener.address.socket_address);
  if (config.admin) await move(config.admin.address.socket_address);
  for (const cluster of config.static_resources.clusters ?? []) {
    for (const locality of cluster.load_assignment?.endpoints ?? []) {
      for (const { endpoint } of locality.lb_endpoints) {
        const address = endpoint.address.socket_address;
        if (address.address in upstreams) {
          // A health check port that is the serving port (the locality example's) moves with it.
          if (endpoint.health_check_config?.port_value === address.port_value) endpoint.health_check_config.port_value = upstreams[address.address];
          address.port_value = upstreams[address.address];
          address.address = "127.0.0.1";
        } else if (address.address === "127.0.0.1" && ports.has(address.port_value)) {
          address.port_value = ports.get(address.port_value);
        }
      }
    }
  }
  change?.(config);
  return { config, port: (examplePort) => ports.get(examplePort)! };
}

/**
 * The TLS sandboxes' 0.25 s connect_timeout raised to 5 s: it covers the TLS handshake too
 * (as in Envoy, whose connection counts as connected once the handshake is done), and a
 * loaded test machine can take longer than that.
 */
export function slowMachine(config: Json): void {
  for (const cluster of config.static_resources.clusters ?? []) cluster.connect_timeout = "5s";
}

/** A request over TLS trusting the test CA (the minted certificate names 127.0.0.1), its body as bytes. */
export function httpsRequest(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const certs = exampleCerts();
  return new Promise((resolve, reject) => {
    const request = https.get({ host: "127.0.0.1", port, path, headers, ca: readFileSync(certs.ca), agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on("error", reject);
  });
}

/** A GET over TLS: its status and text. */
export async function httpsGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const { status, body } = await httpsRequest(port, path);
  return { status, body: body.toString("utf8") };
}

/** curl's output (the sandbox's verify.sh asks with curl), with `localhost` resolved to 127.0.0.1. */
export function curl(port: number, args: string[], url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "--max-time", "20", "--resolve", `localhost:${port}:127.0.0.1`, ...args, url], (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
}
