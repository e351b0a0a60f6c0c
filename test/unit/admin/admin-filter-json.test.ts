/**
 * core/admin/admin-filter.ts: an application/json body is kept only where the handler
 * takes one (a worker's merged stats flush), up to the handler's limit (413 past it);
 * anywhere else it is read and dropped, as any body that is not a form.
 */
import { expect, test } from "vitest";
import { AdminFilter } from "../../../core/admin/admin-filter.ts";
import type { DecoderFilterCallbacks } from "../../../core/http/filter.ts";
import { RequestHeaders, type ResponseHeaders } from "../../../core/http/message.ts";

function post(path: string, chunks: string[], limit: (path: string, fromSupervisor: boolean) => number, token = "t0ken"): { status: number; json: (string | undefined)[]; fromSupervisor: boolean[] } {
  const seen = { status: 0, json: [] as (string | undefined)[], fromSupervisor: [] as boolean[] };
  const filter = new AdminFilter({
    handle: (request) => {
      seen.json.push(request.json);
      seen.fromSupervisor.push(request.fromSupervisor === true);
      return { status: 200, contentType: "text/plain", body: "OK\n" };
    },
    jsonBodyLimit: limit,
    fromSupervisor: (given) => given === "t0ken",
  });
  filter.setDecoderFilterCallbacks({ encodeHeaders: (headers: ResponseHeaders) => void (seen.status = headers.status), encodeData: () => {} } as unknown as DecoderFilterCallbacks);
  const request = new RequestHeaders();
  request.method = "POST";
  request.path = path;
  request.set("content-type", "application/json; charset=utf-8");
  if (token !== "") request.set("x-polyvoy-supervisor-token", token);
  filter.decodeHeaders(request, false);
  chunks.forEach((chunk, i) => filter.decodeData(new TextEncoder().encode(chunk), i === chunks.length - 1));
  return seen;
}

const limit = (path: string, fromSupervisor: boolean): number => (fromSupervisor && path === "/stats/sinks_flush" ? 16 : 0);

test("a JSON body where the handler takes one reaches it whole (UTF-8, across chunks)", () => {
  expect(post("/stats/sinks_flush?x=1", ['{"a":', '"é"}'], limit)).toEqual({ status: 200, json: ['{"a":"é"}'], fromSupervisor: [true] });
});

test("past the handler's limit: 413, the handler not called", () => {
  expect(post("/stats/sinks_flush", ['{"a":"0123456789', '0123456789"}'], limit)).toEqual({ status: 413, json: [], fromSupervisor: [] });
});

test("elsewhere a JSON body is dropped", () => {
  expect(post("/quitquitquit", ['{"a":1}'], limit)).toEqual({ status: 200, json: [undefined], fromSupervisor: [true] });
});

test("without the supervisor's token (or with another) nothing is buffered and the handler is told so, even past the limit", () => {
  for (const token of ["", "t0keN", "t0ken0"]) {
    expect(post("/stats/sinks_flush", ['{"a":"0123456789', '0123456789"}'], limit, token)).toEqual({ status: 200, json: [undefined], fromSupervisor: [false] });
  }
});
