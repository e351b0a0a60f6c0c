import { describe, expect, test } from "vitest";
import { HeaderMap } from "../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../core/http/message.ts";
import { headerMap } from "../../support/header-fields.ts";

const map = headerMap;

describe("HeaderMap", () => {
  test("starts empty", () => {
    const headers = new HeaderMap();
    expect(headers.size).toBe(0);
    expect(headers.get("a")).toBeUndefined();
    expect(headers.getJoined("a")).toBeUndefined();
    expect(headers.has("a")).toBe(false);
    expect(headers.count("a")).toBe(0);
    expect(headers.entries()).toEqual([]);
  });

  test("add appends in order, repeated names included", () => {
    const headers = map(["a", "1"], ["b", "2"], ["a", "3"]);
    expect(headers.size).toBe(3);
    expect(headers.entries()).toEqual([["a", "1"], ["b", "2"], ["a", "3"]]);
    const seen: string[] = [];
    headers.forEach((name, value) => seen.push(`${name}=${value}`));
    expect(seen).toEqual(["a=1", "b=2", "a=3"]);
  });

  test("get returns the first value; getJoined joins every value with ', '", () => {
    const headers = map(["a", "1"], ["b", "2"], ["a", "3"], ["a", ""]);
    expect(headers.get("a")).toBe("1");
    expect(headers.get("b")).toBe("2");
    expect(headers.getJoined("a")).toBe("1, 3, ");
    expect(headers.getJoined("b")).toBe("2");
    expect(headers.getJoined("c")).toBeUndefined();
    expect(headers.getJoined("a", ",")).toBe("1,3,");
  });

  test("lookups skip by name length but find every name whose length was ever added", () => {
    // "te" (2) and a 34-character name share bit 2 of the length filter; "ab" shares it too.
    const long = "x-a-name-thirty-four-characters-xy";
    expect(long.length).toBe(34);
    const headers = map(["te", "trailers"], ["host", "h"]);
    expect(headers.has("ab")).toBe(false);
    expect(headers.get(long)).toBeUndefined();
    headers.add(long, "1");
    headers.add("ab", "2");
    headers.remove("te");
    // The bit stays set after a removal: other names of that length are still found.
    expect(headers.get(long)).toBe("1");
    expect(headers.get("ab")).toBe("2");
    expect(headers.has("te")).toBe(false);
    headers.set("te", "x");
    expect(headers.getJoined("te")).toBe("x");
    expect(headers.count("ab")).toBe(1);
    // A length never added: absent, whatever else the map holds.
    expect(headers.has("connection")).toBe(false);
    expect(headers.getJoined("keep-alive")).toBeUndefined();
    expect(headers.count("keep-alive")).toBe(0);
  });

  test("an empty value is present, not absent", () => {
    const headers = map(["a", ""]);
    expect(headers.get("a")).toBe("");
    expect(headers.getJoined("a")).toBe("");
    expect(headers.has("a")).toBe(true);
  });

  test("lookups are exact: names are stored lowercase by the caller", () => {
    const headers = map(["content-type", "text/plain"]);
    expect(headers.get("Content-Type")).toBeUndefined();
    expect(headers.get("content-type")).toBe("text/plain");
  });

  test("count counts every field of a name", () => {
    const headers = map(["a", "1"], ["b", "2"], ["a", "3"]);
    expect(headers.count("a")).toBe(2);
    expect(headers.count("b")).toBe(1);
    expect(headers.count("c")).toBe(0);
  });

  test("set on an absent name appends", () => {
    const headers = map(["a", "1"]);
    headers.set("b", "2");
    expect(headers.entries()).toEqual([["a", "1"], ["b", "2"]]);
  });

  test("set replaces the first field in place and drops the later ones", () => {
    const headers = map(["x", "0"], ["a", "1"], ["b", "2"], ["a", "3"], ["c", "4"], ["a", "5"]);
    headers.set("a", "new");
    expect(headers.entries()).toEqual([["x", "0"], ["a", "new"], ["b", "2"], ["c", "4"]]);
    expect(headers.count("a")).toBe(1);
    expect(headers.size).toBe(4);
  });

  test("remove drops every field of a name and keeps the others' order", () => {
    const headers = map(["a", "1"], ["b", "2"], ["a", "3"], ["c", "4"], ["a", "5"]);
    headers.remove("a");
    expect(headers.entries()).toEqual([["b", "2"], ["c", "4"]]);
    expect(headers.has("a")).toBe(false);
    headers.remove("missing");
    expect(headers.entries()).toEqual([["b", "2"], ["c", "4"]]);
    headers.remove("b");
    headers.remove("c");
    expect(headers.size).toBe(0);
    headers.add("d", "6");
    expect(headers.entries()).toEqual([["d", "6"]]);
  });
});

describe("HeaderMap keeps names and values in one array", () => {
  test("a value spelled like a name is never taken for one", () => {
    const headers = map(["x", "host"], ["host", "h"], ["y", "x"]);
    expect(headers.get("host")).toBe("h");
    expect(headers.count("host")).toBe(1);
    expect(headers.getJoined("x")).toBe("host");
    expect(headers.has("h")).toBe(false);
    headers.set("x", "1");
    expect(headers.entries()).toEqual([["x", "1"], ["host", "h"], ["y", "x"]]);
    headers.remove("host");
    expect(headers.entries()).toEqual([["x", "1"], ["y", "x"]]);
    headers.remove("x");
    expect(headers.entries()).toEqual([["y", "x"]]);
  });
});

describe("HeaderMap after removals (its array keeps its room)", () => {
  test("fields removed from the middle and the end leave no trace in lookups, loops or size", () => {
    const headers = map(["a", "1"], ["b", "2"], ["c", "3"], ["b", "4"]);
    headers.remove("b");
    expect(headers.size).toBe(2);
    expect(headers.has("b")).toBe(false);
    expect(headers.get("b")).toBeUndefined();
    expect(headers.count("b")).toBe(0);
    expect(headers.getJoined("b")).toBeUndefined();
    const seen: string[] = [];
    headers.forEach((name, value) => seen.push(`${name}=${value}`));
    expect(seen).toEqual(["a=1", "c=3"]);
    headers.remove("c");
    headers.add("d", "5");
    headers.add("b", "6");
    expect(headers.entries()).toEqual([["a", "1"], ["d", "5"], ["b", "6"]]);
    expect(headers.nameAt(2)).toBe("b");
    expect(headers.valueAt(2)).toBe("6");
  });

  test("set after a removal appends once, at the end", () => {
    const headers = map(["a", "1"], ["b", "2"]);
    headers.remove("a");
    headers.set("c", "3");
    headers.set("c", "4");
    expect(headers.entries()).toEqual([["b", "2"], ["c", "4"]]);
  });
});

describe("RequestHeaders / ResponseHeaders", () => {
  test("pseudo-headers and host come from the fields; the rest from the map, joined", () => {
    const request = new RequestHeaders();
    request.add("x", "1");
    request.add("x", "2");
    request.method = "POST";
    request.path = "/p?q";
    request.authority = "example.com";
    expect(request.header(":method")).toBe("POST");
    expect(request.header(":path")).toBe("/p?q");
    expect(request.header(":authority")).toBe("example.com");
    expect(request.header("host")).toBe("example.com");
    expect(request.header(":scheme")).toBe("http");
    expect(request.header("x")).toBe("1,2"); // Envoy joins repeated fields with "," for matching
    expect(request.header("y")).toBeUndefined();
    expect(request.protocol).toBe("HTTP/1.1");
  });

  test("response :status", () => {
    const response = new ResponseHeaders(404);
    response.add("a", "b");
    expect(response.header(":status")).toBe("404");
    expect(response.header("a")).toBe("b");
  });
});
