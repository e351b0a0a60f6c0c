// The two services behind examples/front-proxy.yaml, as in Envoy's front-proxy sandbox
// (examples/front-proxy/service.py in envoyproxy/examples): service 1 on 127.0.0.1:8081
// and service 2 on 127.0.0.1:8082, each answering `GET /service/<its name>` with
// "Hello from behind Envoy (service <name>)!" and any other path with 404. The front
// proxy forwards /service/1 and /service/2 to them with the path as it came.
//
//   node examples/front-proxy-services.mjs      # both; Ctrl-C or SIGTERM stops them
//
// Plain node:http in one process, so it runs on node, bun and deno alike.
import * as http from "node:http";

const SERVICES = [
  { name: "1", port: 8081 },
  { name: "2", port: 8082 },
];

for (const { name, port } of SERVICES) {
  const server = http.createServer((req, res) => {
    // "/service/1", "/service/1/" and "/service/1?x" all name service 1.
    const path = (req.url ?? "/").split("?")[0].replace(/\/$/, "");
    const segments = path.split("/");
    if (segments.length === 3 && segments[2] === name) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`Hello from behind Envoy (service ${name})!\n`);
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end(`service ${name} has no ${path || "/"}\n`);
    }
  });
  server.listen(port, "127.0.0.1", () => console.log(`service ${name} listening on 127.0.0.1:${port}`));
}
