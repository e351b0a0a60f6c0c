/**
 * The one admin of N workers (--concurrency), on the configured admin address, in the
 * supervisor. Each worker runs its own admin (core/admin) on an internal loopback port;
 * this front answers from them, as Envoy's one admin answers for all its worker threads:
 *
 * - /stats (all formats) and /stats/prometheus: every worker's snapshot merged
 *   (core/admin/worker-stats.ts) and rendered by the same code a single process uses;
 * - /clusters: host stats summed across workers;
 * - what changes the server (POST /quitquitquit, /drain_listeners, /healthcheck/fail|ok,
 *   /reset_counters, /logging, /runtime_modify): sent to every worker, the first's answer
 *   returned;
 * - anything else (/ready, /server_info, /config_dump, /listeners …): the first worker's.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { nodeFs, nodeHttp } from "../builtins.ts";
import { bindPathFor, placeBoundSocket, unlinkBeforeBind } from "../unix-socket.ts";
import type { StatsConfig } from "../../../core/config/bootstrap.ts";
import { parseQuery } from "../../../core/admin/admin.ts";
import { isSupervisorOnlyPath, SUPERVISOR_TOKEN_HEADER, WORKER_SNAPSHOT_PATH } from "../../../core/admin/supervisor-requests.ts";
import { statsResponse } from "../../../core/admin/stats-render.ts";
import { withRegexEngine } from "../../../core/config/regex-engine.ts";
import { TagExtractor } from "../../../core/admin/tag-extractor.ts";
import { mergeClustersJson, mergeClustersText, mergeWorkerStats, type WorkerStatsSnapshot } from "../../../core/admin/worker-stats.ts";
import type { WorkerAdmin, WorkerSupervisor } from "./worker-supervisor.ts";

/** Admin request bodies are forms of a few parameters. */
const MAX_BODY_BYTES = 64 * 1024;
/** A worker that does not answer its admin within this is left out of the answer. */
const WORKER_TIMEOUT_MS = 10_000;

/** Sent to every worker (POST only: a GET is answered 405 by the first, as a single process would). */
const BROADCAST = new Set(["/quitquitquit", "/drain_listeners", "/healthcheck/fail", "/healthcheck/ok", "/reset_counters", "/logging", "/runtime_modify"]);

/** Headers of a worker's answer that are about its connection, not the answer. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "date"]);

interface Answer {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

export class AdminFront {
  private server: Server | undefined;
  private readonly tags: TagExtractor;

  constructor(
    private readonly supervisor: WorkerSupervisor,
    statsConfig: unknown,
  ) {
    this.tags = new TagExtractor(statsConfig as StatsConfig | undefined);
  }

  listen(at: { address: string; port: number; pipe?: { mode: number } }): Promise<void> {
    const server = nodeHttp().createServer((request, response) => {
      this.serve(request, response).catch((err: unknown) => {
        this.supervisor.log.error(`admin: ${request.method} ${request.url}: ${(err as Error).message ?? String(err)}`);
        if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain; charset=UTF-8" });
        response.end("workers did not answer\n");
      });
    });
    this.server = server;
    const pipe = at.pipe;
    if (pipe) {
      // The admin on a Unix socket, as a listener's (kit/unix-socket.ts: Envoy's SocketImpl::bind).
      const files = { unlink: (path: string) => nodeFs().unlinkSync(path), chmod: (path: string, mode: number) => nodeFs().chmodSync(path, mode), rename: (from: string, to: string) => nodeFs().renameSync(from, to) };
      const bound = bindPathFor(at.address);
      if (bound === at.address) unlinkBeforeBind(at.address, files);
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen({ path: bound, exclusive: true }, () => {
          server.off("error", reject);
          try {
            placeBoundSocket(bound, at.address, pipe.mode, files);
          } catch (err) {
            server.close();
            return reject(err);
          }
          this.supervisor.log.info(`admin address: ${at.address} (serving all workers)`);
          resolve();
        });
      });
    }
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: at.address, port: at.port, exclusive: true }, () => {
        server.off("error", reject);
        const bound = server.address();
        const port = bound && typeof bound === "object" ? bound.port : at.port;
        this.supervisor.log.info(`admin address: ${at.address}:${port} (serving all workers)`);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections?.();
    });
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    if (body === undefined) return send(response, text(413, "request body too large\n"));
    const url = request.url ?? "/";
    const at = url.indexOf("?");
    const path = at < 0 ? url : url.slice(0, at);
    const method = request.method ?? "GET";
    const workers = await this.supervisor.workerAdmins();
    if (workers.length === 0) return send(response, text(503, "no worker is up\n"));
    // A client's request goes on without the supervisor's token: a worker answers it as any client's.
    const ask = (worker: WorkerAdmin, target = url) => askWorker(worker, method, target, request.headers["content-type"], body, WORKER_TIMEOUT_MS, false);

    // The supervisor's own requests to its workers (the merged stats flush, a worker's raw
    // snapshot) are no admin endpoint of Envoy's: unknown here, as on any admin.
    if (isSupervisorOnlyPath(path, parseQuery(at < 0 ? "" : url.slice(at + 1)))) return send(response, text(404, "invalid path\n"));

    if (path === "/stats" || path === "/stats/prometheus") {
      // stats_flush_on_admin with stats sinks: this read is what flushes them (Envoy's StatsHandler).
      if (this.supervisor.sinkFlush?.onAdmin === true) await this.supervisor.sinkFlush.flush();
      const snapshots = await Promise.all(workers.map((w) => askWorker(w, "GET", WORKER_SNAPSHOT_PATH, undefined, undefined)));
      const parsed = snapshots.flatMap((a) => (a?.status === 200 ? [JSON.parse(new TextDecoder().decode(a.body)) as WorkerStatsSnapshot] : []));
      const merged = mergeWorkerStats(parsed);
      // A filter= pattern is RE2's: the engine loads on its first use (core/config/regex-engine.ts).
      const answer = await withRegexEngine(() => statsResponse(path, parseQuery(at < 0 ? "" : url.slice(at + 1)), merged.stats, merged.intervals, this.tags));
      return send(response, text(answer.status, answer.body, answer.contentType));
    }
    if (path === "/clusters") {
      const answers = await Promise.all(workers.map((w) => ask(w)));
      const ok = answers.filter((a): a is Answer => a?.status === 200);
      if (ok.length === 0) return send(response, answers[0] ?? text(502, "workers did not answer\n"));
      const bodies = ok.map((a) => new TextDecoder().decode(a.body));
      const json = parseQuery(at < 0 ? "" : url.slice(at + 1)).get("format") === "json";
      return send(response, { ...ok[0]!, body: new TextEncoder().encode(json ? mergeClustersJson(bodies) : mergeClustersText(bodies)) });
    }
    if (BROADCAST.has(path) && method === "POST") {
      if (path === "/quitquitquit") await this.supervisor.quitting(workers);
      const answers = await Promise.all(workers.map((w) => ask(w)));
      return send(response, answers.find((a) => a !== undefined) ?? text(502, "workers did not answer\n"));
    }
    const answer = await ask(workers[0]!);
    send(response, answer ?? text(502, "worker did not answer\n"));
  }
}

/**
 * One worker admin's answer, or undefined when it did not give one (exited, timed out).
 * `fromSupervisor`: the request is the supervisor's own and carries its token (a client's request passed on does not).
 */
export async function askWorker(worker: WorkerAdmin, method: string, target: string, contentType: string | undefined, body: Uint8Array | undefined, timeoutMs = WORKER_TIMEOUT_MS, fromSupervisor = true): Promise<Answer | undefined> {
  const host = worker.address.includes(":") ? `[${worker.address}]` : worker.address;
  try {
    const response = await fetch(`http://${host}:${worker.port}${target}`, {
      method,
      headers: { ...(fromSupervisor && { [SUPERVISOR_TOKEN_HEADER]: worker.token }), ...(contentType && { "content-type": contentType }) },
      ...(body && body.length > 0 && method !== "GET" && method !== "HEAD" && { body }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const headers: [string, string][] = [];
    response.headers.forEach((value, name) => {
      if (!HOP_BY_HOP.has(name)) headers.push([name, value]);
    });
    return { status: response.status, headers, body: new Uint8Array(await response.arrayBuffer()) };
  } catch {
    return undefined;
  }
}

function text(status: number, body: string, contentType = "text/plain; charset=UTF-8"): Answer {
  return { status, headers: [["content-type", contentType]], body: new TextEncoder().encode(body) };
}

function send(response: ServerResponse, answer: Answer): void {
  const headers: Record<string, string> = {};
  for (const [name, value] of answer.headers) headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  response.writeHead(answer.status, { ...headers, "content-length": String(answer.body.length) });
  response.end(answer.body);
}

/** The request body, or undefined past MAX_BODY_BYTES. */
async function readBody(request: IncomingMessage): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Uint8Array>) {
    length += chunk.length;
    if (length > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  const body = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}
