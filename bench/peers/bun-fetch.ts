// Peer: Bun.serve + fetch, the few lines a Bun user would write (Bun's fetch pools keep-alive connections).
// Usage: bun bun-fetch.ts LISTEN_PORT ORIGIN_PORT
const [port, originPort] = Bun.argv.slice(2).map(Number);
const origin = `http://127.0.0.1:${originPort}`;
// hop-by-hop fields are not forwarded either way (and the request's Host is the origin's)
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"];

Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 255, // seconds (the maximum); the default 10 s would close idle keep-alive connections
  maxRequestBodySize: 64 * 1024 * 1024,
  async fetch(req) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    headers.delete("host");
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const res = await fetch(origin + url.pathname + url.search, {
      method: req.method,
      headers,
      body: hasBody ? req.body : undefined,
      redirect: "manual",
      decompress: false,
    });
    const out = new Headers(res.headers);
    for (const name of HOP_BY_HOP) out.delete(name);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
  },
});
console.error(`bun-fetch listening on 127.0.0.1:${port}`);
