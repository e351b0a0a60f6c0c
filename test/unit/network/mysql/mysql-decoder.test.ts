/**
 * The mysql_proxy decoder and filter callbacks (core/network/mysql/): a recorded session
 * counts as Envoy's mysql_filter_test expects (login, failed login, auth switch, queries,
 * SSL request, out-of-sync packets); the same bytes split at any points count the same;
 * garbage never throws; an over-long packet is skipped, never held.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { MAX_BUFFERED_PACKET, MySQLDecoder, type MySQLDecoderCallbacks } from "../../../../core/network/mysql/mysql-decoder.ts";
import { fuzzParameters } from "../../../support/fuzz.ts";
import * as my from "../../../support/mysql-wire.ts";

function recorder() {
  const counts: Record<string, number> = {};
  const queries: (string | undefined)[] = [];
  const inc = (name: string) => void (counts[name] = (counts[name] ?? 0) + 1);
  const callbacks: MySQLDecoderCallbacks = {
    onProtocolError: () => inc("protocol_errors"),
    onServerGreeting: () => inc("login_attempts"),
    onClientLogin: (ssl) => ssl && inc("upgraded_to_ssl"),
    onClientLoginResponse: (code) => (code === 0xfe ? inc("auth_switch_request") : code === 0xff ? inc("login_failures") : undefined),
    onMoreClientLoginResponse: (code) => code === 0xff && inc("login_failures"),
    onQuery: (sql) => void queries.push(sql),
  };
  return { counts, queries, callbacks };
}

type Flow = [fromClient: boolean, bytes: Uint8Array][];

/** Login, two queries and an error reply, quit. */
function session(): Flow {
  return [
    [false, my.greeting()],
    [true, my.login("root", { database: "shop" })],
    [false, my.ok(2)],
    [true, my.query("SELECT * FROM orders")],
    [false, my.resultSet(["id"], [["1"], ["2"]])],
    [true, my.query("INSERT INTO orders VALUES (3)")],
    [false, my.ok(1)],
    [true, my.query("SELEC oops")],
    [false, my.err(1, 1064, "42000", "You have an error in your SQL syntax")],
    [true, my.quit()],
  ];
}

function run(flow: Flow, split: (bytes: Uint8Array) => Uint8Array[] = (b) => [b]) {
  const r = recorder();
  const decoder = new MySQLDecoder(r.callbacks);
  for (const [fromClient, bytes] of flow) for (const piece of split(bytes)) decoder.onData(piece, fromClient);
  return { ...r, decoder };
}

describe("mysql decoder", () => {
  test("a login and queries: one login attempt, each COM_QUERY's SQL, no errors", () => {
    const { counts, queries } = run(session());
    expect(counts).toEqual({ login_attempts: 1 });
    expect(queries).toEqual(["SELECT * FROM orders", "INSERT INTO orders VALUES (3)", "SELEC oops"]);
  });

  test("a refused login counts login_failures", () => {
    const { counts, queries } = run([[false, my.greeting()], [true, my.login("bob")], [false, my.err(2, 1045, "28000", "Access denied for user 'bob'")]]);
    expect(counts).toEqual({ login_attempts: 1, login_failures: 1 });
    expect(queries).toEqual([]);
  });

  test("an auth switch counts auth_switch_request; then OK reaches the command phase", () => {
    const { counts, queries } = run([
      [false, my.greeting()], [true, my.login("root")], [false, my.authSwitch(2)], [true, my.authData(3)], [false, my.ok(4)],
      [true, my.query("SELECT 1 FROM t")], [false, my.resultSet(["1"], [["1"]])],
    ]);
    expect(counts).toEqual({ login_attempts: 1, auth_switch_request: 1 });
    expect(queries).toEqual(["SELECT 1 FROM t"]);
  });

  test("an auth switch refused counts login_failures (Envoy's Resync: the next command is still read)", () => {
    const { counts, queries } = run([
      [false, my.greeting()], [true, my.login("root")], [false, my.authSwitch(2)], [true, my.authData(3)], [false, my.err(4, 1045, "28000", "denied")],
      [true, my.query("SELECT 1 FROM t")],
    ]);
    expect(counts).toEqual({ login_attempts: 1, auth_switch_request: 1, login_failures: 1 });
    expect(queries).toEqual(["SELECT 1 FROM t"]);
  });

  test("an SSL request counts upgraded_to_ssl and nothing more is read (the rest is TLS)", () => {
    const { counts, queries, decoder } = run([[false, my.greeting()], [true, my.sslRequest()], [true, Uint8Array.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5])], [false, my.query("SELECT 1")]]);
    expect(counts).toEqual({ login_attempts: 1, upgraded_to_ssl: 1 });
    expect(queries).toEqual([]);
    expect(decoder.ignoring).toBe(true);
  });

  test("an out-of-sync packet counts protocol_errors and is skipped whole, even split", () => {
    const flow: Flow = [[false, my.greeting()], [true, my.login("root")], [false, my.ok(2)], [true, my.query("SELECT 1 FROM a")], [false, my.resultSet(["x"], [])], [false, my.packet(9, new Uint8Array(40).fill(0x03))], [true, my.query("SELECT 2 FROM b")]];
    const whole = run(flow);
    expect(whole.counts).toEqual({ login_attempts: 1, protocol_errors: 1 });
    expect(whole.queries).toEqual(["SELECT 1 FROM a", "SELECT 2 FROM b"]);
    const bytewise = run(flow, (b) => Array.from(b, (_, i) => b.slice(i, i + 1)));
    expect(bytewise.counts).toEqual(whole.counts);
    expect(bytewise.queries).toEqual(whole.queries);
  });

  test("a COM_QUERY over MAX_BUFFERED_PACKET is skipped unread (reported as undefined) and the next one read", () => {
    const big = new Uint8Array(MAX_BUFFERED_PACKET + 10).fill(0x20);
    big[0] = 0x03;
    const r = recorder();
    const decoder = new MySQLDecoder(r.callbacks);
    for (const [c, b] of [[false, my.greeting()], [true, my.login("root")], [false, my.ok(2)]] as Flow) decoder.onData(b, c);
    const packet = my.packet(0, big);
    // Fed in 64 KiB pieces: none is held past its read.
    for (let at = 0; at < packet.byteLength; at += 65536) decoder.onData(packet.slice(at, at + 65536), true);
    decoder.onData(my.ok(1), false);
    decoder.onData(my.query("SELECT 1 FROM t"), true);
    expect(r.queries).toEqual([undefined, "SELECT 1 FROM t"]);
    expect(r.counts).toEqual({ login_attempts: 1 });
  });

  test("fuzz: any split of a session counts the same", () => {
    const whole = run(session());
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        let k = 0;
        const split = (b: Uint8Array) => {
          const pieces: Uint8Array[] = [];
          for (let at = 0; at < b.byteLength; ) {
            const n = sizes[k++ % sizes.length]!;
            // Pieces are copies: the decoder must not keep views of lent bytes.
            pieces.push(b.slice(at, at + n));
            at += n;
          }
          return pieces;
        };
        const got = run(session(), split);
        expect(got.counts).toEqual(whole.counts);
        expect(got.queries).toEqual(whole.queries);
      }),
      fuzzParameters(200),
    );
  });

  test("fuzz: random bytes either way never throw", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 300 })), { maxLength: 30 }), fc.nat({ max: 3 }), (chunks, prefixLength) => {
        expect(() => run([...session().slice(0, prefixLength), ...chunks])).not.toThrow();
      }),
      fuzzParameters(500),
    );
  });

  test("fuzz: well-framed packets with random payloads and sequence ids never throw", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat({ max: 6 }), fc.uint8Array({ maxLength: 64 }))), (packets) => {
        expect(() => run(packets.map(([c, seq, body]): [boolean, Uint8Array] => [c, my.packet(seq, body)]))).not.toThrow();
      }),
      fuzzParameters(500),
    );
  });
});
