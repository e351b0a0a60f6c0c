// Peer: fastify 5 + @fastify/reply-from 12 (undici pool to the origin, keep-alive).
// Usage: node fastify-reply-from.mjs LISTEN_PORT ORIGIN_PORT
import Fastify from "fastify";
import replyFrom from "@fastify/reply-from";

const [port, originPort] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false, keepAliveTimeout: 300_000, requestTimeout: 0, bodyLimit: 64 * 1024 * 1024 });
// Pass request bodies through as streams (reply-from's documented way to proxy without parsing).
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", (_req, body, done) => done(null, body));
await app.register(replyFrom, {
  base: `http://127.0.0.1:${originPort}`,
  undici: { connections: 1024, pipelining: 1, keepAliveTimeout: 300_000 },
});
// reply-from copies the origin's `Connection: keep-alive` into responses to `Connection: close`
// requests, which node:http then closes anyway (clients see a lie and fail the next request):
// drop hop-by-hop fields from responses, as a user who met that would.
const rewriteHeaders = (headers) => {
  delete headers.connection;
  delete headers["keep-alive"];
  return headers;
};
app.all("/*", (request, reply) => reply.from(request.url, { rewriteHeaders }));
await app.listen({ port, host: "127.0.0.1" });
console.error(`fastify-reply-from listening on 127.0.0.1:${port}`);
process.on("SIGTERM", () => process.exit(0));
