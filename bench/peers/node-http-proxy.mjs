// Peer: node-http-proxy (http-proxy 1.18) on node:http, with a keep-alive agent to the origin.
// Usage: node node-http-proxy.mjs LISTEN_PORT ORIGIN_PORT
import http from "node:http";
import httpProxy from "http-proxy";

const [port, originPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${originPort}`, agent });
proxy.on("error", (_error, _req, res) => {
  if (res.writeHead && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
// node:http closes idle keep-alive connections after 5 s by default; the idle-memory scenario holds them longer.
server.keepAliveTimeout = 300_000;
server.headersTimeout = 310_000;
server.requestTimeout = 0;
server.listen(port, "127.0.0.1", () => console.error(`node-http-proxy listening on 127.0.0.1:${port}`));
process.on("SIGTERM", () => process.exit(0));
