/**
 * A polyvoy HTTP filter: asks an authorization service about each request, with fetch(),
 * and waits for its answer without holding up the connection's other work. 2xx lets the
 * request go on (with the service's x-user header); another status is the client's answer;
 * no answer within `timeout_ms` is a 503. A client that leaves meanwhile cancels the call.
 *
 *   - name: auth-service
 *     typed_config:
 *       "@type": type.googleapis.com/polyvoy.filters.http.script.v1.Script
 *       module: ./examples/filters/auth-service.ts
 *       config: { url: "http://127.0.0.1:9000/check", timeout_ms: 2000 }
 */
import type { HttpFilterDefinition } from "polyvoy";
import * as z from "zod";

const Config = z.strictObject({
  url: z.url(),
  timeout_ms: z.number().int().positive().default(2000),
});

export default {
  config: Config,
  create(config) {
    // Per stream: the call in flight is cancelled when the stream ends first.
    const cancel = new AbortController();
    return {
      async decodeHeaders(headers, _endStream, stream) {
        let answer: Response;
        try {
          answer = await fetch(config.url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ method: headers.method, path: headers.path, authorization: headers.get("authorization") ?? null }),
            signal: AbortSignal.any([cancel.signal, AbortSignal.timeout(config.timeout_ms)]),
          });
        } catch (err) {
          if (cancel.signal.aborted) return;
          stream.log.warn(`authorization service unavailable: ${(err as Error).message}`);
          stream.sendLocalReply(503, "authorization service unavailable\n", { details: "auth_service_unavailable" });
          return;
        }
        const body = await answer.text();
        if (!answer.ok) {
          stream.sendLocalReply(answer.status, body, { details: "auth_service_denied" });
          return;
        }
        const user = answer.headers.get("x-user");
        if (user !== null) headers.set("x-user", user);
      },
      onDestroy() {
        cancel.abort();
      },
    };
  },
} satisfies HttpFilterDefinition<z.infer<typeof Config>>;
