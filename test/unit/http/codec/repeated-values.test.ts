import { describe, expect, test } from "vitest";
import { rememberValue, repeatedValue } from "../../../../core/http/codec/repeated-values.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const remember = (name: string, value: string) => rememberValue(name, value, bytes(`:${value}:`), 1, value.length + 1);

describe("repeated header values", () => {
  test("bytes that spell the remembered value exactly give it back; any other bytes do not", () => {
    remember("server", "nginx/1.22.1");
    const wire = bytes("Server: nginx/1.22.1\r\n");
    expect(repeatedValue("server", wire, 8, 20)).toBe("nginx/1.22.1");
    expect(repeatedValue("server", bytes("nginx/1.22.2"), 0, 12)).toBeUndefined(); // last byte differs
    expect(repeatedValue("server", bytes("Nginx/1.22.1"), 0, 12)).toBeUndefined(); // values keep their case
    expect(repeatedValue("server", wire, 8, 19)).toBeUndefined(); // a prefix
    expect(repeatedValue("via", wire, 8, 20)).toBeUndefined(); // another name
  });

  test("the last value is the one remembered", () => {
    remember("date", "Fri, 27 Nov 2026 12:00:00 GMT");
    remember("date", "Fri, 27 Nov 2026 12:00:01 GMT");
    expect(repeatedValue("date", bytes("Fri, 27 Nov 2026 12:00:00 GMT"), 0, 29)).toBeUndefined();
    expect(repeatedValue("date", bytes("Fri, 27 Nov 2026 12:00:01 GMT"), 0, 29)).toBe("Fri, 27 Nov 2026 12:00:01 GMT");
  });

  test("credentials, per-message ids and long values are never kept", () => {
    for (const name of ["authorization", "cookie", "set-cookie", "x-request-id"]) {
      remember(name, "secret");
      expect(repeatedValue(name, bytes("secret"), 0, 6), name).toBeUndefined();
    }
    const long = "x".repeat(49);
    remember("user-agent", long);
    expect(repeatedValue("user-agent", bytes(long), 0, long.length)).toBeUndefined();
  });
});
