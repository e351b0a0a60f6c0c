import { parseDurationMs } from "../config/duration.ts";
import type { Tracer } from "../trace/tracer.ts";
import type { AdminHandler, AdminRequest, AdminResponse } from "./admin-handler.ts";

const DEFAULT_DURATION_MS = 10_000;
const DEFAULT_CONNECTIONS = 100;
/** A trace is bounded in time whatever is asked. */
const MAX_DURATION_MS = 10 * 60_000;

/**
 * `/trace`: the request-lifecycle trace. `POST /trace?duration=10s&connections=100
 * &listener=NAME&path_prefix=/api` starts one (bounded in time and connections);
 * `GET /trace` downloads the last one in Chrome Trace Event Format (Perfetto,
 * chrome://tracing), `GET /trace?format=text` as a readable timeline;
 * `POST /trace/stop` ends it early.
 */
export function traceHandlers(tracer: Tracer): AdminHandler[] {
  return [
    {
      prefix: "/trace",
      help: "POST: start a request-lifecycle trace; GET: download it (Chrome trace JSON, or ?format=text)",
      // GET reads, POST starts: the method decides (see run).
      mutates: false,
      params: [
        ["duration", "POST: how long to trace, e.g. 10s (default 10s, at most 600s)"],
        ["connections", "POST: stop after this many connections (default 100)"],
        ["listener", "POST: only connections of this listener"],
        ["path_prefix", "POST: only requests whose path starts with this"],
        ["format", "GET: json (default, Chrome Trace Event Format) or text"],
      ],
      run: (request) => (request.method === "POST" ? start(tracer, request) : download(tracer, request)),
    },
    {
      prefix: "/trace/stop",
      help: "stop the running request-lifecycle trace",
      mutates: true,
      run: () => {
        tracer.stop();
        return { status: 200, contentType: "text/plain; charset=UTF-8", body: `trace stopped: ${tracer.recorded.length} events\n` };
      },
    },
  ];
}

function start(tracer: Tracer, request: AdminRequest): AdminResponse {
  const text = (status: number, body: string): AdminResponse => ({ status, contentType: "text/plain; charset=UTF-8", body });
  let durationMs = DEFAULT_DURATION_MS;
  const duration = request.query.get("duration");
  if (duration !== undefined) {
    const parsed = parseDurationMs(duration);
    if (!parsed.ok || parsed.ms <= 0) return text(400, `duration: ${parsed.ok ? "must be more than 0s" : parsed.error}\n`);
    durationMs = Math.min(parsed.ms, MAX_DURATION_MS);
  }
  const connections = Number(request.query.get("connections") ?? DEFAULT_CONNECTIONS);
  if (!Number.isInteger(connections) || connections < 1) return text(400, "connections: expected a positive integer\n");
  const listener = request.query.get("listener");
  const pathPrefix = request.query.get("path_prefix");
  tracer.start({
    durationMs,
    maxConnections: connections,
    ...(listener !== undefined ? { listener } : {}),
    ...(pathPrefix !== undefined ? { pathPrefix } : {}),
  });
  return text(200, `tracing for ${durationMs / 1000}s or ${connections} connections\n`);
}

function download(tracer: Tracer, request: AdminRequest): AdminResponse {
  if (request.query.get("format") === "text") return { status: 200, contentType: "text/plain; charset=UTF-8", body: tracer.toText() };
  return { status: 200, contentType: "application/json", body: JSON.stringify(tracer.toChromeTrace()) };
}
