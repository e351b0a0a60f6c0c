import { describe, expect, test } from "vitest";
import { stripPortFromHost } from "../../../../core/http/conn-manager/host-normalization.ts";
import { RequestHeaders } from "../../../../core/http/message.ts";

function strip(authority: string, listenerPort: number | undefined, method = "GET"): string {
  const headers = new RequestHeaders();
  headers.method = method;
  headers.authority = authority;
  stripPortFromHost(headers, listenerPort);
  return headers.authority;
}

describe("stripPortFromHost (strip_any_host_port / strip_matching_host_port)", () => {
  test("any port", () => {
    expect(strip("example.com:8080", undefined)).toBe("example.com");
    expect(strip("example.com", undefined)).toBe("example.com");
    expect(strip("10.0.0.1:80", undefined)).toBe("10.0.0.1");
    expect(strip("[::1]:443", undefined)).toBe("[::1]");
  });

  test("only the listener's port when matching", () => {
    expect(strip("example.com:10000", 10000)).toBe("example.com");
    expect(strip("example.com:10001", 10000)).toBe("example.com:10001");
  });

  test("as HeaderUtility::stripPortFromHost: IPv6 literals, non-numeric ports and CONNECT are left alone", () => {
    expect(strip("[::1]", undefined)).toBe("[::1]");
    expect(strip("[fe80::1]", undefined)).toBe("[fe80::1]");
    expect(strip("example.com:http", undefined)).toBe("example.com:http");
    expect(strip("example.com:", undefined)).toBe("example.com:");
    expect(strip("example.com:-1", undefined)).toBe("example.com:-1");
    expect(strip("example.com:443", undefined, "CONNECT")).toBe("example.com:443");
  });
});
