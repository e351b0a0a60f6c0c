/**
 * A polyvoy HTTP filter: asks an authorization service about each request, through the
 * proxy's async HTTP client (`stream.httpCall`: the service is a cluster of the config,
 * with its load balancing, connection pools and circuit breakers), and waits for its
 * answer without holding up the connection's other work. 2xx lets the request go on
 * (with the service's x-user header); another status is the client's answer; a failed
 * call (no healthy host, a reset, no answer within `timeout_ms`: the client's 503/504)
 * is a 503. A client that leaves meanwhile cancels the call. Counted in
 * http.<stat_prefix>.auth-service.{allowed,denied,unavailable}, timed in
 * http.<stat_prefix>.auth-service.check_time.
 *
 *   - name: auth-service
 *     typed_config:
 *       "@type": type.googleapis.com/polyvoy.filters.http.script.v1.Script
 *       module: ./examples/filters/auth-service.ts
 *       config: { cluster: auth, path: /check, timeout_ms: 2000 }
 */
import type { HttpCallError, HttpFilterDefinition } from "polyvoy";
import * as z from "zod";

const Config = z.strictObject({
  cluster: z.string().min(1),
  path: z.string().startsWith("/").default("/check"),
  timeout_ms: z.number().int().positive().default(2000),
});

export default {
  config: Config,
  create(config) {
    return {
      async decodeHeaders(headers, _endStream, stream) {
        const started = performance.now();
        const unavailable = (why: string) => {
          stream.stats.counter("unavailable").inc();
          stream.log.warn(`authorization service unavailable: ${why}`);
          stream.sendLocalReply(503, "authorization service unavailable\n", { details: "auth_service_unavailable" });
        };
        let answer;
        try {
          answer = await stream.httpCall(
            config.cluster,
            {
              method: "POST",
              path: config.path,
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ method: headers.method, path: headers.path, authorization: headers.get("authorization") ?? null }),
            },
            { timeout: config.timeout_ms, maxResponseBytes: 64 * 1024 },
          );
        } catch (err) {
          // HttpCallError: "cancelled" when the client left (nothing to answer), else a reset or an oversized answer.
          if ((err as HttpCallError).reason !== "cancelled") unavailable((err as Error).message);
          return;
        }
        stream.stats.histogram("check_time").record(performance.now() - started);
        // The client's own answers (no healthy upstream, connect failure, timeout) carry details.
        if (answer.details !== "" || answer.status >= 500) return unavailable(`${answer.status} ${answer.details}`);
        if (answer.status < 200 || answer.status > 299) {
          stream.stats.counter("denied").inc();
          stream.sendLocalReply(answer.status, answer.text(), { details: "auth_service_denied" });
          return;
        }
        stream.stats.counter("allowed").inc();
        const user = answer.headers.get("x-user");
        if (user !== undefined) headers.set("x-user", user);
      },
    };
  },
} satisfies HttpFilterDefinition<z.infer<typeof Config>>;
