import { describe, expect, test } from "vitest";
import { sanitizeTe, stripHopByHop } from "../../../core/http/headers-util.ts";
import { headerMap } from "../../support/header-fields.ts";

const map = headerMap;

describe("stripHopByHop (RFC 9110 §7.6.1)", () => {
  test("the fixed hop-by-hop fields go; end-to-end ones stay in order", () => {
    const headers = map(["a", "1"], ["keep-alive", "timeout=5"], ["proxy-connection", "x"], ["transfer-encoding", "chunked"], ["b", "2"], ["upgrade", "h2c"]);
    stripHopByHop(headers, false);
    expect(headers.entries()).toEqual([["a", "1"], ["b", "2"]]);
  });

  test("fields named in Connection go too: one token, several, with spaces, empty tokens, case, and across repeated Connection fields", () => {
    const headers = map(
      ["connection", "X-One ,, x-two,"],
      ["x-one", "1"],
      ["x-two", "2"],
      ["connection", "keep-alive"],
      ["keep-alive", "timeout=5"],
      ["x-kept", "yes"],
    );
    stripHopByHop(headers, false);
    expect(headers.entries()).toEqual([["x-kept", "yes"]]);
  });

  test("a single token without a comma (the common case)", () => {
    const headers = map(["connection", "x-drop"], ["x-drop", "gone"], ["x-kept", "yes"]);
    stripHopByHop(headers, false);
    expect(headers.entries()).toEqual([["x-kept", "yes"]]);
  });

  test("an allowed upgrade keeps upgrade and connection, still dropping the other named fields", () => {
    const headers = map(["connection", "Upgrade, x-drop"], ["upgrade", "websocket"], ["x-drop", "gone"], ["x-kept", "yes"]);
    stripHopByHop(headers, true);
    expect(headers.entries()).toEqual([["connection", "Upgrade, x-drop"], ["upgrade", "websocket"], ["x-kept", "yes"]]);
  });

  test("te is left to sanitizeTe, even when Connection names it", () => {
    const headers = map(["connection", "te"], ["te", "gzip, trailers"]);
    stripHopByHop(headers, false);
    expect(headers.entries()).toEqual([["te", "gzip, trailers"]]);
  });
});

describe("sanitizeTe (Envoy's sanitizeTEHeader)", () => {
  test("'trailers' alone when a member is trailers (any case, spaces, repeated fields); removed otherwise", () => {
    for (const fields of [[" Trailers "], ["trailers, gzip"], ["gzip;q=0.5 ,trailers"], ["gzip", "trailers"]]) {
      const headers = map(...fields.map((v): [string, string] => ["te", v]), ["x-kept", "yes"]);
      sanitizeTe(headers);
      expect(headers.entries().filter(([n]) => n === "te"), JSON.stringify(fields)).toEqual([["te", "trailers"]]);
    }
    for (const fields of [["gzip"], ["gzip, deflate"], ["trailers;q=0.5"], [""]]) {
      const headers = map(...fields.map((v): [string, string] => ["te", v]));
      sanitizeTe(headers);
      expect(headers.has("te"), JSON.stringify(fields)).toBe(false);
    }
  });
});
