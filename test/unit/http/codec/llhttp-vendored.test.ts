/**
 * core/http/codec/llhttp-wasm.ts is a copy of undici's llhttp WebAssembly build
 * (scripts/vendor-llhttp.mjs). It must decode to exactly the module the pinned undici
 * ships, and its recorded sha256 must match.
 */
import { describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { decodeBase64 } from "../../../../core/util/base64.ts";
import { LLHTTP_SOURCE, LLHTTP_WASM_BASE64, LLHTTP_WASM_SHA256 } from "../../../../core/http/codec/llhttp-wasm.ts";
import { HPE_OK, HPE_PAUSED, HPE_PAUSED_UPGRADE, HPE_USER, METHODS, PARSER_REQUEST, PARSER_RESPONSE } from "../../../../core/http/codec/llhttp.ts";

const ROOT = join(import.meta.dirname, "../../../..");
const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

describe("vendored llhttp", () => {
  test("the base64 decodes to a WebAssembly module whose sha256 is the recorded one", () => {
    const wasm = decodeBase64(LLHTTP_WASM_BASE64);
    expect(Array.from(wasm.subarray(0, 4))).toEqual([0x00, 0x61, 0x73, 0x6d]); // "\0asm"
    expect(sha256(wasm)).toBe(LLHTTP_WASM_SHA256);
  });

  test("it is byte for byte the build in the pinned undici", () => {
    const require = createRequire(import.meta.url);
    const version = JSON.parse(readFileSync(join(ROOT, "node_modules/undici/package.json"), "utf8")).version;
    expect(LLHTTP_SOURCE).toBe(`undici@${version} lib/llhttp/llhttp-wasm.js`);
    const shipped = require(join(ROOT, "node_modules/undici/lib/llhttp/llhttp-wasm.js")) as Uint8Array;
    expect(sha256(new Uint8Array(shipped))).toBe(LLHTTP_WASM_SHA256);
    expect(sha256(decodeBase64(LLHTTP_WASM_BASE64))).toBe(sha256(new Uint8Array(shipped)));
  });

  test("decodeBase64 handles padding and the full alphabet", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (let n = 0; n <= 5; n++) {
      const slice = bytes.subarray(0, n);
      expect(Array.from(decodeBase64(btoa(String.fromCharCode(...slice))))).toEqual(Array.from(slice));
      expect(Array.from(decodeBase64(btoa(String.fromCharCode(...slice)).replace(/=+$/, "")))).toEqual(Array.from(slice));
    }
    expect(Array.from(decodeBase64(btoa(String.fromCharCode(...bytes))))).toEqual(Array.from(bytes));
  });

  test("the driver's constants are llhttp's (undici's constants.js)", () => {
    const require = createRequire(import.meta.url);
    const constants = require(join(ROOT, "node_modules/undici/lib/llhttp/constants.js")) as {
      ERROR: Record<string, number>;
      TYPE: Record<string, number>;
      METHODS: Record<string, number>;
    };
    expect({ HPE_OK, HPE_PAUSED, HPE_PAUSED_UPGRADE, HPE_USER }).toEqual({
      HPE_OK: constants.ERROR.OK,
      HPE_PAUSED: constants.ERROR.PAUSED,
      HPE_PAUSED_UPGRADE: constants.ERROR.PAUSED_UPGRADE,
      HPE_USER: constants.ERROR.USER,
    });
    expect({ PARSER_REQUEST, PARSER_RESPONSE }).toEqual({ PARSER_REQUEST: constants.TYPE.REQUEST, PARSER_RESPONSE: constants.TYPE.RESPONSE });
    expect(Object.fromEntries(METHODS.map((name, i) => [name, i]))).toEqual(constants.METHODS);
  });
});
