import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { HttpTemplateError, parseHttpTemplate } from "../../../core/grpc-json/http-template.ts";
import { DuplicateRuleError, PathMatcherBuilder, urlUnescape, type PathMatcherOptions } from "../../../core/grpc-json/path-matcher.ts";

const DEFAULTS: PathMatcherOptions = { urlUnescapeSpec: "ALL_CHARACTERS_EXCEPT_RESERVED", queryParamUnescapePlus: false, matchUnregisteredCustomVerb: false };
const NONE = new Set<string>();

function matcher(rules: [string, string, string?][], options: Partial<PathMatcherOptions> = {}, ignored = NONE) {
  const builder = new PathMatcherBuilder<string>();
  for (const [method, template, body] of rules) builder.register(method, template, body ?? "", ignored, `${method} ${template}`);
  return builder.build({ ...DEFAULTS, ...options });
}

describe("http template", () => {
  it("parses segments, variables and a verb", () => {
    expect(parseHttpTemplate("/v1/{name=rooms/*/volumes/*}:lend")).toEqual({
      segments: ["v1", "rooms", "*", "volumes", "*"],
      verb: "lend",
      variables: [{ fieldPath: ["name"], start: 1, end: 5 }],
    });
    expect(parseHttpTemplate("/v1/rooms/{room_id}/volumes/{volume.id}").variables).toEqual([
      { fieldPath: ["room_id"], start: 2, end: 3 },
      { fieldPath: ["volume", "id"], start: 4, end: 5 },
    ]);
    expect(parseHttpTemplate("/v1/catalog/{path=**}").segments).toEqual(["v1", "catalog", "**"]);
    expect(parseHttpTemplate("/")).toEqual({ segments: [], verb: "", variables: [] });
  });

  it.each([
    ["v1/rooms", "must start with '/'"],
    ["/v1/**/rooms", "'**' must be the last segment"],
    ["/v1/{a={b}}", "variables may not nest"],
    ["/v1/{a", "unterminated"],
    ["/v1/{1a}", "is not a field path"],
    ["/v1//x", "unexpected '/'"],
    ["/v1/{a}/{a}", "bound twice"],
    ["/v1/x:", "unexpected end"],
  ])("refuses %s", (text, why) => {
    expect(() => parseHttpTemplate(text)).toThrow(HttpTemplateError);
    expect(() => parseHttpTemplate(text)).toThrow(why);
  });

  it("parses every template the grammar makes, and refuses everything else without throwing anything but HttpTemplateError", () => {
    const literal = fc.stringMatching(/^[a-z0-9._~-]{1,6}$/);
    const ident = fc.stringMatching(/^[a-z_][a-z0-9_]{0,5}$/);
    const plain = fc.oneof(literal, fc.constant("*"));
    const segment = fc.oneof(plain, fc.tuple(fc.array(ident, { minLength: 1, maxLength: 3 }), fc.option(fc.array(plain, { minLength: 1, maxLength: 3 }), { nil: undefined })).map(([path, sub]) => `{${path.join(".")}${sub ? `=${sub.join("/")}` : ""}}`));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.option(literal, { nil: undefined }), (segments, double, verb) => {
        const text = `/${segments.join("/")}${double ? "/**" : ""}${verb !== undefined ? `:${verb}` : ""}`;
        // Variables bound twice are refused; otherwise it parses.
        let parsed;
        try {
          parsed = parseHttpTemplate(text);
        } catch (error) {
          expect(error).toBeInstanceOf(HttpTemplateError);
          expect(String(error)).toContain("bound twice");
          return;
        }
        expect(parsed.verb).toBe(verb ?? "");
        if (double) expect(parsed.segments.at(-1)).toBe("**");
        for (const v of parsed.variables) expect(v.end).toBeGreaterThan(v.start);
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        try {
          parseHttpTemplate(text);
        } catch (error) {
          expect(error).toBeInstanceOf(HttpTemplateError);
        }
      }),
    );
  });
});

describe("path matcher", () => {
  const library = matcher([
    ["GET", "/v1/rooms"],
    ["GET", "/v1/rooms/{room_id}"],
    ["GET", "/v1/rooms/special"],
    ["GET", "/v1/{name=rooms/*/volumes/*}"],
    ["POST", "/v1/{name=rooms/*/volumes/*}:lend", "*"],
    ["GET", "/v1/catalog/{path=**}"],
    ["PATCH", "/v1/rooms/{room_id}/volumes/{volume.id}", "volume"],
    ["OPTIONS", "/v1/rooms/{room_id}"],
  ]);

  it("binds path variables, nested ones and multi-segment ones", () => {
    expect(library.lookup("GET", "/v1/rooms/12", "")).toEqual({ value: "GET /v1/rooms/{room_id}", body: "", bindings: [{ fieldPath: ["room_id"], value: "12" }] });
    expect(library.lookup("GET", "/v1/rooms/3/volumes/9", "")?.bindings).toEqual([{ fieldPath: ["name"], value: "rooms/3/volumes/9" }]);
    expect(library.lookup("PATCH", "/v1/rooms/3/volumes/v9", "")?.bindings).toEqual([
      { fieldPath: ["room_id"], value: "3" },
      { fieldPath: ["volume", "id"], value: "v9" },
    ]);
    expect(library.lookup("OPTIONS", "/v1/rooms/3", "")?.value).toBe("OPTIONS /v1/rooms/{room_id}");
  });

  it("prefers a literal over * and backtracks when the literal branch ends in nothing", () => {
    expect(library.lookup("GET", "/v1/rooms/special", "")?.value).toBe("GET /v1/rooms/special");
    expect(library.lookup("GET", "/v1/rooms", "")?.value).toBe("GET /v1/rooms");
    // "rooms" is a literal child of "v1", but "/v1/rooms/1/volumes/2" ends only under {name=rooms/*/volumes/*}.
    expect(library.lookup("GET", "/v1/rooms/1/volumes/2/", "")?.value).toBe("GET /v1/{name=rooms/*/volumes/*}");
    const m = matcher([["GET", "/a/*/c"], ["GET", "/a/**"], ["GET", "/a/b/d"]]);
    expect(m.lookup("GET", "/a/b/c", "")?.value).toBe("GET /a/*/c");
    expect(m.lookup("GET", "/a/b/x/y", "")?.value).toBe("GET /a/**");
    expect(m.lookup("GET", "/a", "")?.value).toBe("GET /a/**");
  });

  it("binds ** to the rest of the path, keeping reserved escapes", () => {
    expect(library.lookup("GET", "/v1/catalog/fiction/sea%2Fships/x%20y", "")?.bindings).toEqual([{ fieldPath: ["path"], value: "fiction/sea%2Fships/x y" }]);
    expect(library.lookup("GET", "/v1/catalog", "")?.bindings).toEqual([{ fieldPath: ["path"], value: "" }]);
  });

  it("matches a registered custom verb, and an unregistered one only when told", () => {
    expect(library.lookup("POST", "/v1/rooms/1/volumes/2:lend", "")?.value).toBe("POST /v1/{name=rooms/*/volumes/*}:lend");
    expect(library.lookup("POST", "/v1/rooms/1/volumes/2", "")).toBeUndefined();
    const m = matcher([["GET", "/foo/{x=*}"]]);
    expect(m.lookup("GET", "/foo/bar:baz", "")?.bindings).toEqual([{ fieldPath: ["x"], value: "bar:baz" }]);
    const unregistered = matcher([["GET", "/foo/{x=*}"]], { matchUnregisteredCustomVerb: true });
    expect(unregistered.lookup("GET", "/foo/bar:baz", "")).toBeUndefined();
  });

  it("unescapes a single-segment variable per url_unescape_spec", () => {
    const look = (spec: PathMatcherOptions["urlUnescapeSpec"]) => matcher([["GET", "/v1/rooms/{room_id}"]], { urlUnescapeSpec: spec }).lookup("GET", "/v1/rooms/a%2Fb%3Fc%41%zz", "")?.bindings[0]?.value;
    expect(look("ALL_CHARACTERS_EXCEPT_RESERVED")).toBe("a%2Fb%3FcA%zz");
    expect(look("ALL_CHARACTERS_EXCEPT_SLASH")).toBe("a%2Fb?cA%zz");
    expect(look("ALL_CHARACTERS")).toBe("a/b?cA%zz");
    expect(urlUnescape("caf%C3%A9", "ALL_CHARACTERS", false)).toBe("café");
  });

  it("binds query parameters (dotted, repeated), skipping ignored ones and those without '='; none for body *", () => {
    const m = matcher([["GET", "/v1/rooms/{room_id}"], ["POST", "/v1/x", "*"]], {}, new Set(["api_key"]));
    expect(m.lookup("GET", "/v1/rooms/1", "a.b=x%20y&tags=1&tags=2&api_key=k&flag&=v&p=a+b")?.bindings).toEqual([
      { fieldPath: ["room_id"], value: "1" },
      { fieldPath: ["a", "b"], value: "x y" },
      { fieldPath: ["tags"], value: "1" },
      { fieldPath: ["tags"], value: "2" },
      { fieldPath: ["p"], value: "a+b" },
    ]);
    const plus = matcher([["GET", "/v1/rooms/{room_id}"]], { queryParamUnescapePlus: true });
    expect(plus.lookup("GET", "/v1/rooms/1", "p=a+b%2B")?.bindings[1]).toEqual({ fieldPath: ["p"], value: "a b+" });
    expect(m.lookup("POST", "/v1/x", "a=1")?.bindings).toEqual([]);
  });

  it("matches the method (a custom kind * is any method)", () => {
    expect(library.lookup("DELETE", "/v1/rooms/1", "")).toBeUndefined();
    const any = matcher([["*", "/any"]]);
    expect(any.lookup("PUT", "/any", "")?.value).toBe("* /any");
  });

  it("refuses the same rule twice", () => {
    const builder = new PathMatcherBuilder<string>();
    builder.register("GET", "/v1/{a}", "", NONE, "one");
    expect(() => builder.register("GET", "/v1/{b}", "", NONE, "two")).toThrow(DuplicateRuleError);
  });
});
