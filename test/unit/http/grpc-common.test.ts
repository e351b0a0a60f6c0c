/** grpc-timeout parsing and formatting as Envoy's Grpc::Common does it. */
import { describe, expect, test } from "vitest";
import { getGrpcTimeoutMs, isGrpcRequestHeaders, toGrpcTimeout } from "../../../core/http/grpc-common.ts";
import { RequestHeaders } from "../../../core/http/message.ts";

function headers(fields: Record<string, string>): RequestHeaders {
  const h = new RequestHeaders();
  h.path = "/svc/Method";
  for (const [name, value] of Object.entries(fields)) h.set(name, value);
  return h;
}

describe("grpc-timeout", () => {
  test("every unit; micro- and nanoseconds round up", () => {
    const ms = (value: string) => getGrpcTimeoutMs(headers({ "grpc-timeout": value }));
    expect([ms("2H"), ms("3M"), ms("4S"), ms("5m"), ms("1500u"), ms("1000u"), ms("1n"), ms("0S")]).toEqual([7_200_000, 180_000, 4000, 5, 2, 1, 1, 0]);
  });

  test("malformed or too long: none", () => {
    for (const value of ["", "S", "10", "1x", "-1S", "1.5S", "99999999S", "123456789m"]) {
      expect(getGrpcTimeoutMs(headers({ "grpc-timeout": value })), value).toBeUndefined();
    }
    expect(getGrpcTimeoutMs(headers({}))).toBeUndefined();
  });

  test("written in the smallest unit that fits 8 digits", () => {
    expect([toGrpcTimeout(0), toGrpcTimeout(800), toGrpcTimeout(99_999_999), toGrpcTimeout(100_000_000), toGrpcTimeout(2 ** 52)]).toEqual(["0m", "800m", "99999999m", "100000S", "99999999H"]);
  });

  test("a gRPC request: application/grpc, alone or with + or ;", () => {
    expect(isGrpcRequestHeaders(headers({ "content-type": "application/grpc" }))).toBe(true);
    expect(isGrpcRequestHeaders(headers({ "content-type": "application/grpc+proto" }))).toBe(true);
    expect(isGrpcRequestHeaders(headers({ "content-type": "application/grpc-web" }))).toBe(false);
    expect(isGrpcRequestHeaders(headers({}))).toBe(false);
  });
});
