// `polyvoy compare` options.
import { RUNTIMES } from "./compare-runtimes.mjs";

export const COMPARE_USAGE = `usage: polyvoy compare -c envoy.yaml [options]
Starts the config under each runtime in turn and measures the same requests against each.
  -c, --config-path FILE  the Envoy bootstrap (YAML or JSON)
  --runtimes a,b          runtimes to compare (default ${RUNTIMES.join(",")}; one not found is skipped)
  --target PATH           a path to measure (repeatable); default: the config's direct
                          responses (and, with --origin builtin, its routes to clusters)
  --host H                the Host header (default: the virtual host's first domain)
  --method M              the request method (default GET)
  --body FILE             a request body, sent with every request
  --header 'NAME: VALUE'  a request header, sent with every request (repeatable)
  --connections N         keep-alive connections (default 64)
  --duration D            per run, e.g. 10s, 500ms (default 10s; --quick 3s)
  --warmup D              before each run (default 2s; --quick 1s)
  --rate R                open loop at R requests/s, for latency (the bench's own client)
  --rounds N              rounds; the runtimes' order rotates (default 3; --quick 1)
  --origin builtin        start the bench's origin and point every cluster at it
  --keep-cluster NAME     with --origin builtin: leave this cluster as written (repeatable)
  --out DIR               write results.md, results.json and chart.svg there
  --quick                 one short round (about 20 seconds for three runtimes)`;

/** Parses "10s", "500ms", "1m", "2.5" (seconds) into seconds; NaN when it is none of them. */
export function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text).trim());
  if (!m) return Number.NaN;
  const value = Number(m[1]);
  return m[2] === "ms" ? value / 1000 : m[2] === "m" ? value * 60 : value;
}

/** The settings, or throws an Error whose message is one line and the usage. */
export function parseCompareArgs(argv) {
  const quick = argv.includes("--quick");
  const s = {
    config: null,
    runtimes: [...RUNTIMES],
    targets: [],
    host: undefined,
    method: "GET",
    body: null,
    headers: [],
    connections: 64,
    seconds: quick ? 3 : 10,
    warmupSeconds: quick ? 1 : 2,
    rate: null,
    rounds: quick ? 1 : 3,
    origin: null,
    keepClusters: [],
    out: null,
    quick,
  };
  const fail = (message) => {
    throw new Error(`${message}\n${COMPARE_USAGE}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${arg} needs a value`);
      return v;
    };
    const positive = (v, what) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) fail(`${arg}: ${what} must be a positive integer, not '${v}'`);
      return n;
    };
    const seconds = (v) => {
      const n = parseDuration(v);
      if (!(n > 0)) fail(`${arg}: '${v}' is not a duration (e.g. 10s, 500ms)`);
      return n;
    };
    switch (arg) {
      case "-c":
      case "--config-path":
        s.config = value();
        break;
      case "--runtimes":
        s.runtimes = value().split(",").filter(Boolean);
        break;
      case "--target": {
        const path = value();
        if (!path.startsWith("/")) fail(`--target: '${path}' is not a path (it starts with /)`);
        s.targets.push(path);
        break;
      }
      case "--host":
        s.host = value();
        break;
      case "--method":
        s.method = value().toUpperCase();
        break;
      case "--body":
        s.body = value();
        break;
      case "--header": {
        const header = value();
        // A name token and a value with no line break: each is written as it is into the request's head.
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/.test(header)) fail(`--header: '${header}' is not 'name: value'`);
        s.headers.push(header);
        break;
      }
      case "--connections":
        s.connections = positive(value(), "connections");
        break;
      case "--duration":
        s.seconds = seconds(value());
        break;
      case "--warmup":
        s.warmupSeconds = value() === "0" ? 0 : seconds(argv[i]);
        break;
      case "--rate":
        s.rate = positive(value(), "the rate");
        break;
      case "--rounds":
        s.rounds = positive(value(), "rounds");
        break;
      case "--origin": {
        const origin = value();
        if (origin !== "builtin") fail(`--origin: only 'builtin' is known, not '${origin}'`);
        s.origin = origin;
        break;
      }
      case "--keep-cluster":
        s.keepClusters.push(value());
        break;
      case "--out":
        s.out = value();
        break;
      case "--quick":
        break;
      case "-h":
      case "--help":
        throw Object.assign(new Error(COMPARE_USAGE), { help: true });
      default:
        fail(`unknown option '${arg}'`);
    }
  }
  if (!s.config) fail("-c FILE is required");
  return s;
}
