/**
 * DNS TTLs through node:dns (runtimes/kit/node-dns-resolver.ts), in-process on each
 * runtime, against a DNS server of the test's own on 127.0.0.1: the runtime's c-ares
 * resolve4 with `ttl: true` (a node:dns Resolver pointed at the test's server, where the
 * adapter uses the default one and /etc/resolv.conf) asks it and the TTL reaches the
 * answer. Deno's adapter asks for none: its resolver answers a name in /etc/hosts from
 * the file with a TTL of 86400 s, whatever DNS says (with this server: `localhost` is
 * 127.0.0.1 for 86400 s on deno, 10.9.9.9 for 42 s on node). The addresses come from
 * `lookup` (getaddrinfo), given here by the test, since the system's getaddrinfo cannot
 * be pointed at a test server.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import { resolveWithNodeDns, type NodeDns } from "../../runtimes/kit/node-dns-resolver.ts";
import { currentRuntimeName } from "./current-runtime.ts";

const NAME = "svc.polyvoy.test";

/** Answers A queries for NAME with 10.9.9.9 (TTL 42) and 10.9.9.8 (TTL 7); nothing else. */
function answer(query: Buffer): Buffer {
  let at = 12;
  const labels: string[] = [];
  while (query[at] !== 0) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString("latin1"));
    at += query[at]! + 1;
  }
  const type = query.readUInt16BE(at + 1);
  const question = query.subarray(12, at + 5);
  const records = labels.join(".").toLowerCase() === NAME && type === 1 ? [record([10, 9, 9, 9], 42), record([10, 9, 9, 8], 7)] : [];
  const head = Buffer.alloc(12);
  query.copy(head, 0, 0, 2); // the id
  head.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, NOERROR
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(records.length, 6);
  return Buffer.concat([head, question, ...records]);
}

function record(ip: number[], ttl: number): Buffer {
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ...ip]);
  rr.writeUInt32BE(ttl, 6);
  return rr;
}

const resolver = new Resolver({ timeout: 2000, tries: 1 });

/** getaddrinfo as the test has it: NAME is 10.9.9.9 and 10.9.9.1 (not in DNS: no TTL); DNS is the test's server. */
const fakeDns: NodeDns = {
  lookup: async (host) => (host === NAME ? [{ address: "10.9.9.9", family: 4 }, { address: "10.9.9.1", family: 4 }] : []),
  resolve4: (host, options) => resolver.resolve4(host, options),
  resolve6: (host, options) => resolver.resolve6(host, options),
};

const runtime = currentRuntimeName();
/** What each adapter passes (process-services.ts for node and bun, deno-runtime.ts). */
const dnsTtls = runtime !== "deno";

describe(`DNS TTLs on ${runtime}`, () => {
  let server: dgram.Socket;

  beforeAll(async () => {
    server = dgram.createSocket("udp4");
    server.on("message", (query, peer) => server.send(answer(query), peer.port, peer.address));
    await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
    resolver.setServers([`127.0.0.1:${server.address().port}`]);
  });

  afterAll(() => {
    server.close();
  });

  test.skipIf(!dnsTtls)("each address looked up takes the TTL of the same address in the DNS answer", async () => {
    expect(await resolveWithNodeDns(NAME, "all", { ttl: true }, dnsTtls, fakeDns)).toEqual([
      { address: "10.9.9.9", family: 4, ttlSeconds: 42 },
      { address: "10.9.9.1", family: 4 },
    ]);
  });

  test("no TTL unless asked for, or where the adapter gives none", async () => {
    const expected = [
      { address: "10.9.9.9", family: 4 },
      { address: "10.9.9.1", family: 4 },
    ];
    expect(await resolveWithNodeDns(NAME, "all", undefined, dnsTtls, fakeDns)).toEqual(expected);
    expect(await resolveWithNodeDns(NAME, "all", { ttl: true }, false, fakeDns)).toEqual(expected);
  });
});
