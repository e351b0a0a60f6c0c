/**
 * The tls_inspector's ClientHello parser (core/network/listener-filters/client-hello-parser.ts):
 * SNI and ALPN from real and hand-built hellos, split into records and fed in small
 * reads; malformed input is "not TLS", never a crash; it never reads past its limit.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ClientHelloParser, type ClientHelloResult } from "../../../core/network/listener-filters/client-hello-parser.ts";
import { OPENSSL_CLIENT_HELLO_HEX } from "../../fixtures/openssl-client-hello.ts";
import { clientHelloMessage, clientHelloRecords, extension, fromHex } from "../../support/tls-client-hello.ts";
import { fuzzParameters, fuzzTimeout } from "../../support/fuzz.ts";

/** Feed `bytes` as a growing view, `step` bytes more each time; the first decided answer. */
function feed(bytes: Uint8Array, step = bytes.length): ClientHelloResult {
  const parser = new ClientHelloParser();
  let result: ClientHelloResult = { kind: "more" };
  for (let end = Math.min(step, bytes.length); ; end = Math.min(end + step, bytes.length)) {
    result = parser.parse(bytes.subarray(0, end));
    if (result.kind !== "more" || end === bytes.length) return result;
  }
}

const hello = (serverName: string, alpn: string[]) => ({ kind: "client_hello", serverName, alpn });

describe("ClientHello parser", () => {
  test("a ClientHello from Debian's openssl s_client: SNI lower-cased, ALPN in order", () => {
    const bytes = fromHex(OPENSSL_CLIENT_HELLO_HEX);
    expect(feed(bytes)).toEqual(hello("www.example.com", ["h2", "http/1.1"]));
    // One byte per read gives the same answer.
    expect(feed(bytes, 1)).toEqual(hello("www.example.com", ["h2", "http/1.1"]));
  });

  test.each([
    ["SNI and ALPN", { serverName: "api.example.com", alpn: ["h2", "http/1.1"] }, hello("api.example.com", ["h2", "http/1.1"])],
    ["no SNI", { alpn: ["h2"] }, hello("", ["h2"])],
    ["no ALPN", { serverName: "a.b" }, hello("a.b", [])],
    ["no extensions block at all", { noExtensions: true }, hello("", [])],
    ["a malformed ALPN list is no ALPN (the TLS stack refuses it later)", { serverName: "x.y", extensions: [[16, new Uint8Array([0, 3, 0, 1, 0x61])]] as [number, Uint8Array][] }, hello("x.y", [])],
  ])("%s", (_name, options, expected) => {
    expect(feed(clientHelloRecords(options))).toEqual(expected);
  });

  test("a handshake message split over records of 1, 7 and 100 bytes, fed 1 and 3 bytes at a time", () => {
    for (const recordSize of [1, 7, 100]) {
      const bytes = clientHelloRecords({ serverName: "split.example", alpn: ["h2"], recordSize });
      for (const step of [1, 3, bytes.length]) expect(feed(bytes, step)).toEqual(hello("split.example", ["h2"]));
    }
  });

  test("plain text and other protocols are not TLS, decided on the first bytes", () => {
    const parser = new ClientHelloParser();
    expect(parser.parse(new TextEncoder().encode("G"))).toEqual({ kind: "not_tls" });
    expect(new ClientHelloParser().parse(new Uint8Array([0x16, 0x02]))).toEqual({ kind: "not_tls" });
    expect(new ClientHelloParser().parse(new Uint8Array([0x16]))).toEqual({ kind: "more" });
    expect(new ClientHelloParser().parse(new TextEncoder().encode("PRI * HTTP/2.0\r\n"))).toEqual({ kind: "not_tls" });
  });

  const malformed: [string, Uint8Array][] = [
    ["a record longer than 2^14, once its body is in", (() => {
      const r = new Uint8Array(5 + 0x4001);
      r.set([22, 3, 1, 0x40, 0x01, 1]);
      return r;
    })()],
    ["a record header over 2^14 + 2048 (BoringSSL's encrypted maximum)", new Uint8Array([22, 3, 1, 0x48, 0x01])],
    ["a handshake that is not a ClientHello", new Uint8Array([22, 3, 1, 0, 4, 2, 0, 0, 0])],
    ["a ClientHello body longer than 16 KiB", new Uint8Array([22, 3, 1, 0, 4, 1, 0, 0x40, 0x01])],
    ["two SNI extensions", clientHelloRecords({ serverName: "a.b", extensions: [[0, new Uint8Array([0, 4, 0, 0, 1, 0x61])]] })],
    ["an SNI with a NUL", clientHelloRecords({ serverName: "a\0b" })],
    ["an empty SNI", clientHelloRecords({ serverName: "" })],
    ["an SNI of 256 bytes", clientHelloRecords({ serverName: "a".repeat(256) })],
    ["cipher suites of odd length", (() => {
      const m = clientHelloMessage({ serverName: "a.b" });
      // cipher suites length at 4 + 2 + 32 + 1: make it 3.
      m[4 + 2 + 32 + 1 + 1] = 3;
      return new Uint8Array([22, 3, 1, m.length >> 8, m.length & 0xff, ...m]);
    })()],
    ["extensions that run past the message", (() => {
      const m = clientHelloMessage({ serverName: "a.b" });
      const at = 4 + 2 + 32 + 1 + 2 + 4 + 2;
      m[at + 1]! += 1;
      return new Uint8Array([22, 3, 1, m.length >> 8, m.length & 0xff, ...m]);
    })()],
    ["33 empty records", new Uint8Array(Array.from({ length: 33 }, () => [22, 3, 1, 0, 0]).flat())],
  ];
  test.each(malformed)("malformed: %s is not TLS", (_name, bytes) => {
    expect(feed(bytes)).toEqual({ kind: "not_tls" });
    expect(feed(bytes, 1)).toEqual({ kind: "not_tls" });
  });

  test("an unknown extension is skipped", () => {
    expect(feed(clientHelloRecords({ serverName: "a.b", extensions: [[0xfe0d, new Uint8Array(300)]] }))).toEqual(hello("a.b", []));
    expect(extension(1, [1]).length).toBe(5);
  });

  test("a hello that never ends keeps asking for more until the caller's limit (64 KiB of 1-byte records)", () => {
    // Each record carries one byte of a message that says it is 16 KiB long.
    const records = new Uint8Array(6 * Math.floor((64 * 1024) / 6));
    const message = [1, 0, 0x40, 0x00];
    for (let i = 0, at = 0; at + 6 <= records.length; i++, at += 6) records.set([22, 3, 1, 0, 1, message[i] ?? 0], at);
    const parser = new ClientHelloParser();
    expect(parser.parse(records)).toEqual({ kind: "more" });
  });

  test("many small reads of a large hello cost what one read does (incremental)", () => {
    const bytes = clientHelloRecords({ serverName: "big.example", extensions: [[0xff01, new Uint8Array(15000)]], recordSize: 64 });
    const started = performance.now();
    expect(feed(bytes, 1)).toEqual(hello("big.example", []));
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe("ClientHello parser fuzz", () => {
  const RUNS = 300;
  test(
    "random bytes, and valid hellos cut, split and corrupted: no throw, an answer at the end, nothing read past the view",
    () => {
      const valid = fc
        .record({
          serverName: fc.option(fc.stringMatching(/^[a-z0-9.-]{1,40}$/), { nil: undefined }),
          alpn: fc.option(fc.array(fc.stringMatching(/^[a-z0-9/.]{1,10}$/), { minLength: 1, maxLength: 4 }), { nil: undefined }),
          recordSize: fc.integer({ min: 1, max: 400 }),
        })
        .map((o) => clientHelloRecords(o));
      const corrupted = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })).map(([bytes, flips]) => {
        const out = bytes.slice();
        for (const [at, value] of flips) out[at % out.length] = value;
        return out;
      });
      const input = fc.oneof(fc.uint8Array({ maxLength: 600 }), valid, corrupted, valid.map((b) => b.subarray(0, Math.floor(b.length / 2))));
      fc.assert(
        fc.property(input, fc.integer({ min: 1, max: 64 }), (bytes, step) => {
          // A view into a larger buffer whose tail must never be read: the parser sees only `bytes.length`.
          const backing = new Uint8Array(bytes.length + 16).fill(0xee);
          backing.set(bytes);
          const view = backing.subarray(0, bytes.length);
          const once = new ClientHelloParser().parse(view);
          const stepped = feed(view, step);
          expect(stepped).toEqual(once);
          expect(["more", "not_tls", "client_hello"]).toContain(once.kind);
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS, 20_000),
  );
});

describe("JA3 (tls_inspector's enable_ja3_fingerprinting)", () => {
  const ja3Of = (bytes: Uint8Array) => {
    const result = new ClientHelloParser(true).parse(bytes);
    return result.kind === "client_hello" ? result.ja3 : result.kind;
  };

  test("version, ciphers, extensions in order, groups, point formats: GREASE left out of the ciphers and extensions only (Envoy's createJA3Hash)", () => {
    const hello = clientHelloRecords({
      serverName: "a.example.com",
      cipherSuites: [0x0a0a, 0x1301, 0x1302, 0xfafa], // GREASE ciphers (as Chrome sends): not listed
      extensions: [
        [0x0a0a, new Uint8Array(0)], // a GREASE extension: not listed
        [10, Uint8Array.of(0, 6, 0x1a, 0x1a, 0, 29, 0, 23)], // supported_groups with a GREASE group: kept, as Envoy's
        [11, Uint8Array.of(1, 0)], // ec_point_formats: uncompressed
        [43, Uint8Array.of(2, 3, 4)], // supported_versions
      ],
    });
    expect(ja3Of(hello)).toBe("771,4865-4866,0-10-11-43,6682-29-23,0");
    // Without the option the parser makes none.
    expect(new ClientHelloParser().parse(hello)).not.toHaveProperty("ja3");
  });

  test("a hello without groups or point formats: those fields empty; without extensions, the three", () => {
    expect(ja3Of(clientHelloRecords({ alpn: ["h2"] }))).toBe("771,4865-4866,16,,");
    expect(ja3Of(clientHelloRecords({ noExtensions: true }))).toBe("771,4865-4866,,,");
  });

  test("a real ClientHello (openssl s_client): its exact JA3 text", () => {
    // Checked against a separate parse of the same bytes (ciphers in offered order, groups, point formats 0-1-2).
    const ja3 = "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-35-16-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2";
    expect(ja3Of(fromHex(OPENSSL_CLIENT_HELLO_HEX))).toBe(ja3);
  });
});
