/**
 * Route regexes against hostile paths and headers, on every runtime (issue #32, ReDoS):
 * RE2 matches in time linear in the input, so a pattern that backtracks exponentially in
 * JavaScript — `(a+)+` against 40 `a`s and a `!` — neither blocks the process (other
 * connections wait behind it on V8) nor gives up and reports no match (JavaScriptCore).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const answer = (text: string) => ({ direct_response: { status: 200, body: { inline_string: text } } });

/** 40 `a`s and a `!`: 2^40 ways to split the `a`s for a backtracking `(a+)+`. */
const HOSTILE = `${"a".repeat(40)}!`;

/** `promise`, or a rejection naming `what` if it takes longer than `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe.each(RUNTIMES)("RE2 regexes on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  /** GET on a connection of its own; returns the body (or "404"). */
  async function get(path: string, headers: Record<string, string> = {}): Promise<string> {
    const agent = new Agent({ pipelining: 0 });
    try {
      const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, headers });
      return res.statusCode === 404 ? "404" : await res.body.text();
    } finally {
      await agent.destroy();
    }
  }

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => res.end(`upstream saw ${req.url}`));
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [upstream.port] },
        routes: [
          { match: { safe_regex: { regex: "/nested/(a+)+" } }, action: answer("nested") },
          { match: { safe_regex: { regex: "/either/((a+)+b|a+!)" } }, action: answer("either") },
          {
            match: { prefix: "/header", headers: [{ name: "x-h", string_match: { safe_regex: { regex: "(a+)+" } } }] },
            action: answer("header"),
          },
          {
            match: { prefix: "/rewrite/" },
            action: { route: { cluster: "up", regex_rewrite: { pattern: { regex: "(a+)+b" }, substitution: "X" } } },
          },
          { match: { prefix: "/" }, action: answer("fallback") },
        ],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("a path that backtracks in JavaScript gets its answer promptly, and so does everyone else", async () => {
    const hostile = get(`/nested/${HOSTILE}`);
    // Sent while the hostile request is being routed: on a blocked event loop it would wait.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await within(1000, "another connection", get("/elsewhere"))).toBe("fallback");
    expect(await within(1000, "the hostile request", hostile)).toBe("fallback");
    expect(await get(`/nested/${"a".repeat(40)}`)).toBe("nested");
  });

  test("a regex that matches after heavy backtracking still matches (no engine gives up)", async () => {
    expect(await within(1000, "the matching request", get(`/either/${HOSTILE}`))).toBe("either");
    expect(await get(`/either/${"a".repeat(40)}b`)).toBe("either");
  });

  test("header regexes and regex_rewrite are linear too", async () => {
    expect(await within(1000, "the hostile header", get("/header", { "x-h": HOSTILE }))).toBe("fallback");
    expect(await get("/header", { "x-h": "aaaa" })).toBe("header");
    expect(await within(1000, "the hostile rewrite", get(`/rewrite/${HOSTILE}`))).toBe(`upstream saw /rewrite/${HOSTILE}`);
    expect(await get("/rewrite/aab/aaab?q=ab")).toBe("upstream saw /rewrite/X/X?q=ab");
  });
});
