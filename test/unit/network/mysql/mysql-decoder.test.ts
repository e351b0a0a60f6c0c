/**
 * The mysql_proxy decoder and filter callbacks (core/network/mysql/): a recorded session
 * counts as Envoy's mysql_filter_test expects (login, failed login, auth switch, queries,
 * SSL request, out-of-sync packets); the same bytes split at any points count the same;
 * random packets give the same callbacks whole or split, holding at most one packet; an
 * over-long packet is skipped, never held. Bytes are lent through one reused buffer.
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

/**
 * Every callback with its arguments, in order, and the most bytes the decoder held between
 * reads in either direction (its PendingBytes).
 */
function eventLog() {
  const events: unknown[][] = [];
  const callbacks: MySQLDecoderCallbacks = {
    onProtocolError: () => void events.push(["protocol_error"]),
    onServerGreeting: () => void events.push(["greeting"]),
    onClientLogin: (ssl) => void events.push(["login", ssl]),
    onClientLoginResponse: (code) => void events.push(["login_response", code]),
    onMoreClientLoginResponse: (code) => void events.push(["more_login_response", code]),
    onQuery: (sql) => void events.push(["query", sql]),
  };
  return { events, callbacks };
}

/** A runtime's read buffer, reused: each piece is lent in it and overwritten after `onData`. */
const scratch = new Uint8Array(MAX_BUFFERED_PACKET + 64);

function feed(decoder: MySQLDecoder, piece: Uint8Array, fromClient: boolean): void {
  scratch.set(piece);
  decoder.onData(scratch.subarray(0, piece.byteLength), fromClient);
  scratch.fill(0xa5, 0, piece.byteLength);
}

function run(flow: Flow, split: (bytes: Uint8Array) => Uint8Array[] = (b) => [b]) {
  const r = recorder();
  const decoder = new MySQLDecoder(r.callbacks);
  for (const [fromClient, bytes] of flow) for (const piece of split(bytes)) feed(decoder, piece, fromClient);
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
            // Each piece is lent in the scratch buffer (feed): a decoder keeping views of
            // lent bytes reads what the next piece overwrote.
            pieces.push(b.subarray(at, at + n));
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

  // Random well-framed packets both ways, after a random prefix of a real session (to reach
  // the command phase): fed whole, or cut at random points, they give the same callbacks
  // with the same arguments, and the decoder never holds more than one packet of
  // MAX_BUFFERED_PACKET and its header per direction. A packet may declare a length over
  // MAX_BUFFERED_PACKET (only its first bytes follow: it is skipped, eating what comes next)
  // or be cut short at the end.
  test("fuzz: random packets either way, whole or split anywhere, give the same callbacks; pending bytes stay bounded", () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.string({ maxLength: 40 }).map((sql) => Uint8Array.from([0x03, ...new TextEncoder().encode(sql)])),
      fc.tuple(fc.constantFrom(0x00, 0xfe, 0xff, 0x01, 0x0e), fc.uint8Array({ maxLength: 20 })).map(([first, rest]) => Uint8Array.from([first, ...rest])),
    );
    const framed = fc.oneof(
      { weight: 8, arbitrary: fc.tuple(fc.nat({ max: 6 }), body).map(([seq, b]) => my.packet(seq, b)) },
      // Over-long: the header says more than MAX_BUFFERED_PACKET; a few bytes follow.
      { weight: 1, arbitrary: fc.tuple(fc.integer({ min: MAX_BUFFERED_PACKET + 1, max: MAX_BUFFERED_PACKET + 300 }), fc.nat({ max: 6 }), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([len, seq, b]) => Uint8Array.from([len & 0xff, (len >> 8) & 0xff, len >> 16, seq, ...b])) },
      // A long packet (up to the bound) that may end cut short.
      { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 6 }), fc.integer({ min: 1000, max: MAX_BUFFERED_PACKET }), fc.integer({ min: 0, max: 2000 })).map(([seq, len, sent]) => my.packet(seq, new Uint8Array(len).fill(0x03)).subarray(0, Math.min(4 + len, 4 + sent))) },
    );
    fc.assert(
      fc.property(
        fc.nat({ max: 3 }),
        fc.array(fc.tuple(fc.boolean(), framed), { maxLength: 25 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (prefixLength, packets, sizes) => {
          const flow: Flow = [...session().slice(0, prefixLength * 2), ...packets];
          const play = (split: boolean) => {
            const log = eventLog();
            const decoder = new MySQLDecoder(log.callbacks);
            const pending = (decoder as unknown as { pending: { length: number }[] }).pending;
            let held = 0;
            let k = 0;
            for (const [fromClient, bytes] of flow) {
              const pieces: Uint8Array[] = [];
              if (!split) pieces.push(bytes);
              else for (let at = 0; at < bytes.byteLength; ) {
                const n = sizes[k++ % sizes.length]!;
                pieces.push(bytes.subarray(at, at + n));
                at += n;
              }
              for (const piece of pieces) {
                feed(decoder, piece, fromClient);
                held = Math.max(held, pending[0]!.length, pending[1]!.length);
              }
            }
            return { events: log.events, held };
          };
          const whole = play(false);
          const split = play(true);
          expect(split.events).toEqual(whole.events);
          expect(whole.held).toBeLessThanOrEqual(MAX_BUFFERED_PACKET + 4);
          expect(split.held).toBeLessThanOrEqual(MAX_BUFFERED_PACKET + 4);
        },
      ),
      fuzzParameters(300),
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
