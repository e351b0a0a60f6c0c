/**
 * The postgres_proxy decoder (core/network/postgres/postgres-decoder.ts): a whole session
 * both ways counts as Envoy's postgres_filter_test/postgres_decoder_test expect; the same
 * bytes split at every point count the same; garbage puts it out of sync, never throws,
 * and it never holds more than one bounded message.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { MAX_BUFFERED_BODY, PostgresDecoder, type PostgresDecoderCallbacks } from "../../../../core/network/postgres/postgres-decoder.ts";
import { fuzzParameters } from "../../../support/fuzz.ts";
import * as pg from "../../../support/postgres-wire.ts";

/** Counts by callback name, plus the queries seen. */
function recorder() {
  const counts: Record<string, number> = {};
  const queries: [string, string | undefined][] = [];
  const inc = (name: string) => () => void (counts[name] = (counts[name] ?? 0) + 1);
  const callbacks: PostgresDecoderCallbacks = {
    incMessagesFrontend: inc("frontend"),
    incMessagesBackend: inc("backend"),
    incMessagesUnknown: inc("unknown"),
    incSessionsEncrypted: inc("encrypted"),
    incSessionsUnencrypted: inc("unencrypted"),
    incStatements: (type) => inc(`statement${type}`)(),
    incTransactions: inc("transactions"),
    incTransactionsCommit: inc("commit"),
    incTransactionsRollback: inc("rollback"),
    incErrors: (type) => inc(`error${type}`)(),
    incNotices: (type) => inc(`notice${type}`)(),
    processQuery: (sql, attributes) => void queries.push([sql, attributes.get("database")]),
    onSSLRequest: () => true,
  };
  return { counts, queries, callbacks };
}

/** One simple-protocol session: [frontend?, bytes] in the order they flow. */
function session(): [boolean, Uint8Array][] {
  return [
    [true, pg.startup({ user: "alice", database: "shop", application_name: "psql" })],
    [false, pg.serverGreeting()],
    [true, pg.query("SELECT * FROM orders")],
    [false, pg.selectResult(["id"], [["1"], ["2"]])],
    [true, pg.query("BEGIN")],
    [false, pg.concat(pg.commandComplete("BEGIN"), pg.readyForQuery("T"))],
    [true, pg.query("INSERT INTO orders VALUES (3)")],
    [false, pg.concat(pg.commandComplete("INSERT 0 1"), pg.readyForQuery("T"))],
    [true, pg.query("COMMIT")],
    [false, pg.concat(pg.commandComplete("COMMIT"), pg.readyForQuery())],
    [true, pg.query("SELEC oops")],
    [false, pg.concat(pg.errorResponse("ERROR", "syntax error"), pg.readyForQuery())],
    [false, pg.noticeResponse("WARNING", "careful")],
    [true, pg.terminate()],
  ];
}

function run(chunks: [boolean, Uint8Array][], split: (bytes: Uint8Array) => Uint8Array[] = (b) => [b]) {
  const r = recorder();
  const decoder = new PostgresDecoder(r.callbacks);
  for (const [frontend, bytes] of chunks) for (const piece of split(bytes)) decoder.onData(piece, frontend);
  return { ...r, decoder };
}

describe("postgres_proxy decoder", () => {
  test("a session's messages, statements, transactions, errors and notices", () => {
    const { counts, queries, decoder } = run(session());
    expect(decoder.outOfSync).toBe(false);
    // Startup is not counted as a message (Envoy's onDataInit); 5 queries + Terminate.
    expect(counts.frontend).toBe(6);
    // Greeting 5, SELECT result 5, BEGIN 2, INSERT 2, COMMIT 2, error 2, notice 1.
    expect(counts.backend).toBe(19);
    expect(counts.unencrypted).toBe(1);
    expect(counts.unknown).toBeUndefined();
    // SELECT (2), INSERT (0), BEGIN/COMMIT (Other 4).
    expect([counts.statement2, counts.statement0, counts.statement4]).toEqual([1, 1, 2]);
    // The SELECT is its own transaction; BEGIN…COMMIT is one.
    expect(counts.transactions).toBe(2);
    expect(counts.commit).toBe(2);
    expect(counts.error0).toBe(1);
    expect(counts.notice0).toBe(1);
    expect(queries).toEqual([
      ["SELECT * FROM orders", "shop"],
      ["BEGIN", "shop"],
      ["INSERT INTO orders VALUES (3)", "shop"],
      ["COMMIT", "shop"],
      ["SELEC oops", "shop"],
    ]);
  });

  test("database defaults to user; Parse's query is read", () => {
    const { queries } = run([[true, pg.startup({ user: "bob" })], [true, pg.parse("s1", "DELETE FROM t")]]);
    expect(queries).toEqual([["DELETE FROM t", "bob"]]);
  });

  test("ROLLBACK counts a rollback inside a transaction only", () => {
    const { counts } = run([
      [true, pg.startup({ user: "u" })],
      [false, pg.commandComplete("BEGIN")],
      [false, pg.commandComplete("ROLLBACK")],
      [false, pg.commandComplete("ROLLBACK")],
    ]);
    expect(counts.rollback).toBe(1);
    expect(counts.transactions).toBe(1);
  });

  test("an SSLRequest passed through: one encrypted session, nothing more is read", () => {
    const { counts, decoder } = run([[true, pg.sslRequest()], [false, new Uint8Array([0x53])], [true, new Uint8Array([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5])]]);
    expect(counts.encrypted).toBe(1);
    expect(counts.frontend).toBe(1);
    expect(counts.backend).toBeUndefined();
    expect(decoder.ignoring).toBe(true);
  });

  test("unknown message types count as unknown (and as messages twice, as Envoy's)", () => {
    const { counts, decoder } = run([[true, pg.startup({ user: "u" })], [true, pg.message("~", new Uint8Array([1, 2]))]]);
    expect(counts.unknown).toBe(1);
    expect(decoder.outOfSync).toBe(false);
  });

  test("a message that does not match its format puts the decoder out of sync for good", () => {
    // ReadyForQuery has one byte; this one has two.
    const { counts, decoder } = run([[true, pg.startup({ user: "u" })], [false, pg.message("Z", new Uint8Array([0x49, 0x49]))], [false, pg.commandComplete("SELECT 1")]]);
    expect(decoder.outOfSync).toBe(true);
    expect(counts.statement2).toBeUndefined();
  });

  test("a startup packet over PostgreSQL's 10000-byte limit puts it out of sync", () => {
    const { decoder } = run([[true, pg.startup({ user: "u", options: "x".repeat(10000) })]]);
    expect(decoder.outOfSync).toBe(true);
  });

  test("a body over the buffer limit is counted and skipped, and decoding goes on after it", () => {
    const big = pg.message("d", new Uint8Array(MAX_BUFFERED_BODY + 10));
    const { counts, decoder } = run([[true, pg.startup({ user: "u" })], [true, big], [true, pg.query("SELECT 1")]], (b) => {
      const pieces: Uint8Array[] = [];
      for (let at = 0; at < b.byteLength; at += 65536) pieces.push(b.subarray(at, at + 65536));
      return pieces;
    });
    expect(decoder.outOfSync).toBe(false);
    expect(counts.frontend).toBe(2);
  });

  test("split at every byte boundary, a session counts the same", () => {
    const whole = run(session()).counts;
    const bytewise = run(session(), (b) => Array.from(b, (_, i) => b.subarray(i, i + 1))).counts;
    expect(bytewise).toEqual(whole);
  });

  test("fuzz: any split of a session counts the same", () => {
    const whole = run(session()).counts;
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
        expect(run(session(), split).counts).toEqual(whole);
      }),
      fuzzParameters(200),
    );
  });

  test("fuzz: random bytes either way never throw", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 300 })), { maxLength: 30 }), fc.boolean(), (chunks, afterStartup) => {
        const prefix: [boolean, Uint8Array][] = afterStartup ? [[true, pg.startup({ user: "u" })]] : [];
        expect(() => run([...prefix, ...chunks])).not.toThrow();
      }),
      fuzzParameters(500),
    );
  });

  test("fuzz: valid messages with random bodies of known types never throw", () => {
    const types = "BCdcfDEHFpPQSXRK23GHWDIEVvnNAts1Z T~";
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.constantFrom(...types), fc.uint8Array({ maxLength: 64 }))), (messages) => {
        const chunks: [boolean, Uint8Array][] = [[true, pg.startup({ user: "u" })], ...messages.map(([fe, t, body]): [boolean, Uint8Array] => [fe, pg.message(t, body)])];
        expect(() => run(chunks)).not.toThrow();
      }),
      fuzzParameters(500),
    );
  });
});
