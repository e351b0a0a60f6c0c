/**
 * The HTTP/2 ↔ HTTP/1 upgrade transforms (core/http/codec/http2-headers.ts), as Envoy's
 * Utility::transformUpgrade* (test/common/http/utility_test.cc: H1H2H1Request, H2H1H2Request…):
 * an extended CONNECT is an upgrade inside the proxy, and back.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import {
  connectRequestFieldsToHttp2,
  requestHeadersFromHttp2,
  responseFieldsToHttp2ForUpgrade,
  transformUpgradeResponseFromH2toH1,
  upgradeOf,
  upgradeRequestFieldsToHttp2,
} from "../../../../core/http/codec/http2-headers.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";

function h1Upgrade(upgrade: string): RequestHeaders {
  const headers = new RequestHeaders();
  headers.method = "GET";
  headers.path = "/chat?x=1";
  headers.authority = "ws.test";
  headers.add("upgrade", upgrade);
  headers.add("connection", "Upgrade");
  headers.add("sec-websocket-version", "13");
  headers.add("content-length", "0");
  headers.upgrade = true;
  return headers;
}

describe("extended CONNECT ↔ HTTP/1 upgrade", () => {
  test("an HTTP/2 extended CONNECT comes in as GET + upgrade + connection: upgrade", () => {
    const headers = requestHeadersFromHttp2([":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/chat", ":authority", "ws.test", "sec-websocket-version", "13"]);
    expect(headers.method).toBe("GET");
    expect(headers.upgrade).toBe(true);
    expect(headers.get("upgrade")).toBe("websocket");
    expect(headers.get("connection")).toBe("upgrade");
    expect(headers.path).toBe("/chat");
    expect(headers.scheme).toBe("https");
    expect(upgradeOf(headers)).toBe("websocket");
  });

  test("a bytestream :protocol and a plain CONNECT stay CONNECT, no upgrade", () => {
    const bytestream = requestHeadersFromHttp2([":method", "CONNECT", ":protocol", "bytestream", ":scheme", "https", ":path", "/", ":authority", "a:1"]);
    expect(bytestream.method).toBe("CONNECT");
    expect(bytestream.upgrade).toBe(false);
    const plain = requestHeadersFromHttp2([":method", "CONNECT", ":authority", "a:443"]);
    expect(plain.method).toBe("CONNECT");
    expect(upgradeOf(plain)).toBeUndefined();
  });

  test("an HTTP/1 upgrade goes out as an extended CONNECT: :protocol, :scheme and :path kept, upgrade fields and content-length: 0 dropped", () => {
    const headers = h1Upgrade("websocket");
    expect(upgradeRequestFieldsToHttp2(headers, upgradeOf(headers)!)).toEqual([
      ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "ws.test", ":path", "/chat?x=1", "sec-websocket-version", "13",
    ]);
  });

  test("an HTTP/1 CONNECT goes out as :method and :authority only (RFC 9113 §8.5)", () => {
    const headers = new RequestHeaders();
    headers.method = "CONNECT";
    headers.authority = "a:443";
    headers.path = "a:443";
    headers.upgrade = true;
    headers.add("x-a", "1");
    expect(upgradeOf(headers)).toBeUndefined();
    expect(connectRequestFieldsToHttp2(headers)).toEqual([":method", "CONNECT", ":authority", "a:443", "x-a", "1"]);
  });

  test("a 101 with upgrade goes to an HTTP/2 client as 200 without the upgrade fields; other statuses as they are", () => {
    const switching = new ResponseHeaders(101);
    switching.add("upgrade", "websocket");
    switching.add("connection", "Upgrade");
    switching.add("sec-websocket-accept", "abc");
    switching.add("content-length", "0");
    expect(responseFieldsToHttp2ForUpgrade(switching)).toEqual([":status", "200", "sec-websocket-accept", "abc"]);
    const refused = new ResponseHeaders(403);
    refused.add("content-length", "0");
    expect(responseFieldsToHttp2ForUpgrade(refused)).toEqual([":status", "403", "content-length", "0"]);
  });

  test("an upstream's 200 to an extended CONNECT is the 101 the HTTP/1 side expects; a refusal stays as it is", () => {
    const ok = new ResponseHeaders(200);
    transformUpgradeResponseFromH2toH1(ok, "websocket");
    expect([ok.status, ok.get("upgrade"), ok.get("connection")]).toEqual([101, "websocket", "upgrade"]);
    const no = new ResponseHeaders(404);
    transformUpgradeResponseFromH2toH1(no, "websocket");
    expect([no.status, no.has("upgrade")]).toEqual([404, false]);
  });

  test("H1 → H2 → H1 keeps the request (Envoy's H1H2H1Request), for any upgrade token and path", () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9.+-]{0,15}$/).filter((t) => t !== "bytestream");
    const path = fc.stringMatching(/^\/[a-z0-9/?=&]{0,30}$/);
    fc.assert(
      fc.property(token, path, (upgrade, p) => {
        const h1 = h1Upgrade(upgrade);
        h1.path = p;
        const back = requestHeadersFromHttp2(upgradeRequestFieldsToHttp2(h1, upgradeOf(h1)!));
        expect(back.method).toBe("GET");
        expect(back.path).toBe(p);
        expect(back.authority).toBe("ws.test");
        expect(upgradeOf(back)).toBe(upgrade);
        expect(back.get("sec-websocket-version")).toBe("13");
      }),
    );
  });
});
