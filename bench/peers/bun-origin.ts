// The fallback origin when nginx is absent: Bun.serve with the same fixed bodies,
// read from the directory the nginx origin would serve (files 64, 16k, 1m).
// Usage: bun bun-origin.ts LISTEN_PORT BODY_DIR
const [portArg, dir] = Bun.argv.slice(2);
const bodies = new Map<string, Uint8Array>();
for (const name of ["64", "16k", "1m"]) bodies.set(`/${name}`, new Uint8Array(await Bun.file(`${dir}/${name}`).arrayBuffer()));
const headers = { "content-type": "text/plain" };

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(portArg),
  idleTimeout: 255,
  maxRequestBodySize: 64 * 1024 * 1024,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/upload") {
      await req.arrayBuffer(); // read the whole upload before answering, as the nginx origin does
      return new Response(bodies.get("/64"), { headers });
    }
    if (path === "/503") return new Response(bodies.get("/64"), { status: 503, headers });
    // any other path gets the 64-byte body, as the nginx origin (polyvoy compare's --origin builtin)
    return new Response(bodies.get(path) ?? bodies.get("/64"), { headers });
  },
});
console.error(`bun origin listening on 127.0.0.1:${portArg}`);
