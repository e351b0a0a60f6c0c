// Command-line options: `npm run bench` (full) or `npm run bench -- --quick` (about a minute).
import { METRICS, PROTOCOL_SCENARIOS, SCENARIO_GROUPS, THROUGHPUT } from "./scenarios.mjs";

const USAGE = `usage: npm run bench -- [options]
  --quick              one short run of each scenario but get-256c, body-16k and those of a
                       listener of their own (HTTP/2, TLS, gRPC, PostgreSQL, TCP, aggregate:
                       --scenarios names them) (about a minute; what CI runs)
  --runs N             runs per scenario (full: 3, quick: 1)
  --seconds S          seconds per throughput run (full: 5, quick: 1)
  --warmup S           warm-up seconds before each scenario (full: 2, quick: 0)
  --rate R             fixed request rate of the latency scenario (default 500 req/s)
  --latency-rounds N   rounds of latency-half (full: 5, quick: 1)
  --idle N             idle keep-alive connections in the memory scenario (full: 10000, quick: 1000)
  --idle-settle S      seconds the idle connections stay idle before RSS is read (full: 40, quick: 0.3)
  --only a,b           only these proxies (ids: direct, polyvoy-node, polyvoy-bun, polyvoy-deno,
                       nginx, haproxy, node-http-proxy, fastify-reply-from, bun-fetch, deno-fetch;
                       only when named: polyvoy-node-ts-filter, polyvoy-bun-ts-filter,
                       polyvoy-deno-ts-filter — polyvoy with a TypeScript filter before the router;
                       polyvoy-node-package, polyvoy-bun-package, polyvoy-deno-package —
                       polyvoy as the package runs it, bin/polyvoy.js after \`npm run build\`)
  --scenarios a,b      only these scenarios (${[...THROUGHPUT.map((s) => s.id), "latency", "latency-half", "idle-memory", "startup"].join(", ")});
                       ${Object.entries(SCENARIO_GROUPS).map(([name, ids]) => `${name} = ${ids.join(", ")}`).join("; ")}
  --out DIR            results folder (default bench/results/<date>-<quick|full>)`;

export function parseArgs(argv) {
  const quick = argv.includes("--quick");
  const settings = {
    mode: quick ? "quick" : "full",
    runs: quick ? 1 : 3,
    seconds: quick ? 1 : 5,
    warmupSeconds: quick ? 0 : 2,
    latencySeconds: quick ? 1 : 5,
    latencyWarmupSeconds: quick ? 0.3 : 2,
    latencyConnections: 64,
    // latency-half's p99 is that of a 5 s window, which one stall of the VM (~50 ms) decides:
    // more rounds than the throughput scenarios' 3, so the median is not decided by two
    latencyRounds: quick ? 1 : 5,
    rate: 500,
    idleConnections: quick ? 1000 : 10_000,
    settleMs: quick ? 300 : 2000,
    // how long idle connections are left before the idle-memory figure (see measureIdleMemory)
    idleSettleMs: quick ? 300 : 40_000,
    pauseMs: quick ? 50 : 500,
    only: null,
    // --quick leaves out the 256-connection and 16 KiB scenarios (the same paths as 64
    // connections and 1 MiB), and HTTP/2 and TLS (--scenarios names them), to stay near a minute
    scenarios: new Set([
      ...THROUGHPUT.map((s) => s.id).filter((id) => !quick || (id !== "get-256c" && id !== "body-16k" && !PROTOCOL_SCENARIOS.includes(id))),
      "latency",
      "latency-half",
      "idle-memory",
      "startup",
    ]),
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    const number = () => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${arg} needs a number\n${USAGE}`);
      return n;
    };
    switch (arg) {
      case "--quick":
        break;
      case "--runs":
        settings.runs = Math.max(1, Math.round(number()));
        break;
      case "--seconds":
        settings.seconds = Math.max(1, Math.round(number())); // wrk takes whole seconds
        settings.latencySeconds = settings.seconds;
        break;
      case "--warmup":
        settings.warmupSeconds = Math.round(number());
        break;
      case "--latency-rounds":
        settings.latencyRounds = Math.max(1, Math.round(number()));
        break;
      case "--rate":
        settings.rate = Math.max(1, Math.round(number()));
        break;
      case "--idle-settle":
        settings.idleSettleMs = Math.max(0, Math.round(number() * 1000));
        break;
      case "--idle":
        settings.idleConnections = Math.max(1, Math.round(number()));
        break;
      case "--only":
        settings.only = new Set(value().split(","));
        break;
      case "--scenarios": {
        const ids = value().split(",").flatMap((id) => SCENARIO_GROUPS[id] ?? [id]);
        const known = new Set([...THROUGHPUT.map((s) => s.id), ...METRICS.map((m) => m.scenario), "startup"]);
        for (const id of ids) if (!known.has(id)) throw new Error(`unknown scenario ${id}\n${USAGE}`);
        settings.scenarios = new Set(ids);
        break;
      }
      case "--out":
        settings.out = value();
        break;
      case "-h":
      case "--help":
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return settings;
}
