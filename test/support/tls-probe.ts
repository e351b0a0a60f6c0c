/** Small TLS clients for the e2e tests: what certificate a listener serves, and whether it answers a client certificate. */
import * as tls from "node:tls";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { CertFiles } from "./test-certs.ts";

/**
 * Connect with SNI example.com (no verification), send a GET, and give the CN of the
 * certificate served and the response ("" when the proxy refused the client).
 */
export function tlsGet(port: number, clientCert?: CertFiles): Promise<{ cn: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "example.com",
      rejectUnauthorized: false,
      ...(clientCert ? { cert: readFileSync(clientCert.cert, "utf8"), key: readFileSync(clientCert.key, "utf8") } : {}),
    });
    let body = "";
    let cn: string | undefined;
    socket.on("secureConnect", () => {
      cn = socket.getPeerCertificate().subject?.CN as string | undefined;
      socket.write("GET / HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n");
    });
    socket.on("data", (d: Buffer) => (body += d.toString()));
    socket.on("end", () => resolve({ cn, body }));
    socket.on("close", () => resolve({ cn, body }));
    socket.on("error", (err) => (cn === undefined ? reject(err) : resolve({ cn, body })));
  });
}

/** The admin's /stats as a map. */
export async function adminStats(adminPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    const at = line.lastIndexOf(": ");
    if (at > 0) map.set(line.slice(0, at), Number(line.slice(at + 2)));
  }
  return map;
}

/**
 * One `openssl s_client` handshake to 127.0.0.1:`port` with `args` (-servername, -status,
 * -sess_out FILE, …) sending one GET that closes the connection; its stdout and stderr.
 */
export function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-ign_eof", ...args]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill(), 10_000);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    child.stdin.end("GET / HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n");
  });
}
