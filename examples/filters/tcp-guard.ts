/**
 * A polyvoy network (L4) filter, in front of tcp_proxy (or the HTTP connection manager):
 * greets each client with an optional banner, closes connections whose first bytes start
 * with a denied prefix (answering "denied\n"; nothing reaches the upstream), and counts
 * the bytes each way in network_script.<filter name>.{bytes_in,bytes_out,denied}.
 *
 *   filters:
 *     - name: tcp-guard
 *       typed_config:
 *         "@type": type.googleapis.com/polyvoy.filters.network.script.v1.Script
 *         module: ./examples/filters/tcp-guard.ts
 *         config: { banner: "welcome\n", deny: ["QUIT", "SHUTDOWN"] }
 *     - name: envoy.filters.network.tcp_proxy
 *       typed_config: { … }
 */
import type { NetworkFilterDefinition } from "polyvoy";
import * as z from "zod";

const Config = z.strictObject({
  banner: z.string().default(""),
  deny: z.array(z.string().min(1)).default([]),
});

const CONTINUE = 0;
const STOP_ITERATION = 1;

export default {
  config: Config,
  create(config) {
    const deny = config.deny.map((prefix) => new TextEncoder().encode(prefix));
    let checked = false;
    return {
      onNewConnection(connection) {
        if (config.banner !== "") connection.write(config.banner);
      },
      onData(data, _endStream, connection) {
        if (!checked) {
          // The first bytes decide; wait for as many as the longest prefix needs.
          const denied = deny.find((prefix) => prefix.every((byte, i) => i >= data.length || data[i] === byte));
          if (denied !== undefined && data.length < denied.length) return STOP_ITERATION;
          if (denied !== undefined) {
            connection.stats.counter("denied").inc();
            connection.write("denied\n");
            connection.close();
            return STOP_ITERATION;
          }
          checked = true;
        }
        connection.stats.counter("bytes_in").inc(data.length);
        return CONTINUE;
      },
      onWrite(data, _endStream, connection) {
        connection.stats.counter("bytes_out").inc(data.length);
      },
    };
  },
} satisfies NetworkFilterDefinition<z.infer<typeof Config>>;
