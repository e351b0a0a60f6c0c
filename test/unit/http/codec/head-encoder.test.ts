import { describe, expect, test } from "vitest";
import { headEncoder } from "../../../../core/http/codec/head-encoder.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";

function encode(headers: [string, string][], properCase: boolean, extra?: string[]): string {
  const map = new HeaderMap();
  for (const [name, value] of headers) map.add(name, value);
  const encoder = headEncoder("HTTP/1.1 200 OK", map, extra, undefined, properCase);
  const out = new Uint8Array(encoder.byteLength);
  encoder.encodeInto(out, 0);
  return new TextDecoder("latin1").decode(out);
}

describe("head encoder: header_key_format.proper_case_words", () => {
  test("as Envoy's ProperCaseHeaderKeyFormatter: the first letter and each after a non-alphanumeric one", () => {
    const fields: [string, string][] = [
      ["content-type", "text/plain"],
      ["x-envoy-upstream-service-time", "3"],
      ["x-2fa_token", "a-b"],
      ["www-authenticate", "x"],
      ["etag", "\"v\""],
      ["x.y", "z"],
    ];
    expect(encode(fields, true, ["connection", "close"])).toBe(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Envoy-Upstream-Service-Time: 3\r\nX-2fa_Token: a-b\r\n" +
        'Www-Authenticate: x\r\nEtag: "v"\r\nX.Y: z\r\nConnection: close\r\n\r\n',
    );
  });

  test("off (the default): names as they are, values never touched", () => {
    expect(encode([["x-custom", "a-b"]], false)).toBe("HTTP/1.1 200 OK\r\nx-custom: a-b\r\n\r\n");
  });
});
