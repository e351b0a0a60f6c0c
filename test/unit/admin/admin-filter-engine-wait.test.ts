/**
 * core/admin/admin-filter.ts: a request whose handler needs the RE2 engine before it is
 * loaded (`/stats?filter=`) is answered after the engine loads, from a promise continuation.
 * What goes wrong there must be answered or end the stream, never be an unhandled
 * rejection (vitest fails a run that has one). The connection manager's callbacks are
 * reduced to what the filter calls: the failure (encodeHeaders throwing) cannot be made
 * to happen through a real connection manager.
 */
import { expect, test } from "vitest";
import { AdminFilter } from "../../../core/admin/admin-filter.ts";
import { RegexEngineNotLoaded } from "../../../core/config/regex-engine.ts";
import type { DecoderFilterCallbacks } from "../../../core/http/filter.ts";
import { RequestHeaders, type ResponseHeaders } from "../../../core/http/message.ts";

function run(handle: () => { status: number; contentType: string; body: string }, encodeHeaders: (headers: ResponseHeaders) => void) {
  const seen = { resets: 0, bodies: [] as string[] };
  const callbacks = {
    encodeHeaders: (headers: ResponseHeaders) => encodeHeaders(headers),
    encodeData: (data: Uint8Array) => void seen.bodies.push(new TextDecoder().decode(data)),
    resetStream: () => void seen.resets++,
  } as unknown as DecoderFilterCallbacks;
  const filter = new AdminFilter({ handle });
  filter.setDecoderFilterCallbacks(callbacks);
  const request = new RequestHeaders();
  request.path = "/stats?filter=a";
  filter.decodeHeaders(request, true);
  return seen;
}

/** Lets the filter's continuation (engine import, then the answer) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

test("after the wait, a handler that still cannot compile is answered 500, as without a wait", async () => {
  const statuses: number[] = [];
  const seen = run(
    () => {
      throw new RegexEngineNotLoaded();
    },
    (headers) => void statuses.push(headers.status),
  );
  expect(statuses).toEqual([]);
  await settle();
  expect(statuses).toEqual([500]);
  expect(seen.bodies).toEqual(["admin error: the RE2 engine is not loaded (await loadRegexEngine() before checking a regex)\n"]);
  expect(seen.resets).toBe(0);
});

test("after the wait, an answer that cannot be sent resets the stream instead of rejecting unhandled", async () => {
  let calls = 0;
  const seen = run(
    () => {
      if (calls++ === 0) throw new RegexEngineNotLoaded();
      return { status: 200, contentType: "text/plain", body: "ok\n" };
    },
    () => {
      throw new Error("encodeHeaders failed");
    },
  );
  await settle();
  expect(calls).toBe(2);
  expect(seen.resets).toBe(1);
});
