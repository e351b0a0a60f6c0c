// One request before a target's load, for the status it answers: wrk counts only answers of
// 400 and above as errors, so a target that answers a redirect (an OAuth2 filter sending every
// request to sign in) or a 3xx local reply would otherwise be measured as if it were proxied.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

const PROBE_TIMEOUT_MS = 10_000;

/**
 * The status of one request as the load sends it (method, Host, headers, body), or null when
 * it could not be had (no answer in time, a connection error, or an HTTP/2-only listener,
 * which this HTTP/1.1 client cannot reach).
 */
export function probeStatus({ port, host = "127.0.0.1", path, hostHeader, method = "GET", headers = [], bodyFile, tls = false, protocol }) {
  if (protocol && protocol !== "https") return Promise.resolve(null);
  const body = bodyFile ? readFileSync(bodyFile) : undefined;
  const head = { "user-agent": "polyvoy-bench" };
  if (hostHeader) head.host = hostHeader;
  if (body) head["content-type"] = "application/octet-stream";
  for (const line of headers) {
    const colon = line.indexOf(":");
    if (colon > 0) head[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const client = tls ? https : http;
  return new Promise((resolve) => {
    const req = client.request(
      { host, port, path, method, headers: head, agent: false, timeout: PROBE_TIMEOUT_MS, ...(tls ? { rejectUnauthorized: false, servername: hostHeader?.replace(/:\d+$/, "") } : {}) },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? null));
        res.on("error", () => resolve(res.statusCode ?? null));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(null));
    req.end(body);
  });
}
