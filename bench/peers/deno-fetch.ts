// Peer: Deno.serve + fetch, the few lines a Deno user would write (Deno's fetch pools keep-alive connections).
// Usage: deno run -A deno-fetch.ts LISTEN_PORT ORIGIN_PORT
const [port, originPort] = Deno.args.map(Number);
const origin = `http://127.0.0.1:${originPort}`;
// hop-by-hop fields are not forwarded either way (and the request's Host is the origin's)
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"];

Deno.serve({ hostname: "127.0.0.1", port, onListen: () => console.error(`deno-fetch listening on 127.0.0.1:${port}`) }, async (req) => {
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
    // @ts-ignore: `duplex` is required by the fetch spec for stream bodies
    duplex: "half",
  });
  const out = new Headers(res.headers);
  for (const name of HOP_BY_HOP) out.delete(name);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
});
