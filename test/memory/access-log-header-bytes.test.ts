/**
 * %REQUEST_HEADERS_BYTES%, %RESPONSE_HEADERS_BYTES%, %RESPONSE_TRAILERS_BYTES% (Envoy's
 * HeadersByteSizeFormatter: HeaderMap::byteSize, names and values, pseudo-headers included)
 * and %CONNECTION_TERMINATION_DETAILS% ("-" for an HTTP stream no network filter closed).
 */
import { afterEach, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

test("header byte sizes: a request header more adds its name's and value's bytes; no trailers is 0", async () => {
  proxy = await filterProxy([], {
    hcm: {
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: "/dev/stdout",
            log_format: { text_format_source: { inline_string: "%REQUEST_HEADERS_BYTES% %RESPONSE_HEADERS_BYTES% %RESPONSE_TRAILERS_BYTES% %CONNECTION_TERMINATION_DETAILS%\n" } },
          },
        },
      ],
    },
  });
  await proxy.request("GET", "/a", { headers: { "x-request-id": "r1" } });
  await proxy.request("GET", "/a", { headers: { "x-request-id": "r1", "x-pad": "12345" } });
  await proxy.runtime.settle(1000);
  const lines = proxy.runtime.stdoutText.trim().split("\n").map((line) => line.split(" "));
  expect(lines).toHaveLength(2);
  const [first, second] = lines as [string[], string[]];
  expect(Number(first[0])).toBeGreaterThan(":method".length + "GET".length + ":path".length + 2);
  expect(Number(second[0]) - Number(first[0])).toBe("x-pad".length + "12345".length);
  expect(Number(first[1])).toBeGreaterThan(":status".length + 3);
  expect(second[1]).toBe(first[1]);
  expect([first[2], first[3]]).toEqual(["0", "-"]);
});
