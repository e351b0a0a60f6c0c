/**
 * postgres_proxy's own CPU per query, in one process (no sockets, no proxy): the filter
 * (core/network/postgres/postgres-filter.ts) fed a client's simple Query and the server's
 * answer (RowDescription, DataRow, CommandComplete, ReadyForQuery: the bench's PostgreSQL
 * origin's bytes), as tcp_proxy's read and write paths hand them to it, with SQL parsing
 * on (Envoy's default) and off, alternating in rounds. Far less noisy on a shared machine
 * than the `postgres` / `postgres-filter` scenarios' queries per second. The process's CPU
 * time (all its threads: the collector's helpers too) per query, not wall-clock time.
 *
 *   npx tsx bench/postgres-filter-cpu.ts      # also: npx bun …, npx deno run -A …
 *   [--queries N] [--rounds N] [--sql "SELECT a FROM t WHERE b = 1"]
 *
 * Each query's bytes are fresh arrays, as each socket read is (copying them costs the same
 * with the filter on or off; a third line gives the copies alone): on Bun, a view into a
 * small array whose bytes live in JavaScriptCore's heap first moves them out into an
 * ArrayBuffer of their own (runtimes/bun/bun-runtime.ts, ownSmallArrays), which only
 * fresh arrays show.
 */
import type { Connection } from "../core/network/connection.ts";
import type { ReadBuffer } from "../core/network/read-buffer.ts";
import { PostgresFilter } from "../core/network/postgres/postgres-filter.ts";
import { postgresProxyStats } from "../core/network/postgres/postgres-proxy-stats.ts";
import { StatsStore } from "../core/stats/stats-store.ts";
import * as pg from "../test/support/postgres-wire.ts";

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}
const queries = Number(option("--queries", "50000"));
const rounds = Number(option("--rounds", "9"));
const sql = option("--sql", "SELECT 1");

const QUERY = pg.query(sql);
const ANSWER = pg.selectResult(["?column?"], [["1"]]);
const STARTUP = pg.startup({ user: "bench", database: "bench" });
const GREETING = pg.serverGreeting();

/** A session's filter, past the startup and greeting; returns a function that runs one query through it. */
function session(enableSqlParsing: boolean): () => void {
  let writeFilter: ((data: Uint8Array) => boolean) | undefined;
  let metadata = 0;
  const connection = {
    addWriteFilter: (filter: (data: Uint8Array) => boolean) => void (writeFilter = filter),
    setDynamicMetadata: () => void metadata++,
  } as unknown as Connection;
  const filter = new PostgresFilter({ statPrefix: "bench", enableSqlParsing }, postgresProxyStats(new StatsStore(), "bench"), connection);
  const read = (bytes: Uint8Array) => filter.onData({ chunkCount: 1, chunkAt: () => bytes } as unknown as ReadBuffer, false);
  read(STARTUP);
  writeFilter!(GREETING);
  return () => {
    read(QUERY.slice());
    writeFilter!(ANSWER.slice());
  };
}

/** The fresh copies alone, for the line that says what they cost. */
let sink = 0;
function copies(): () => void {
  return () => {
    sink += QUERY.slice().byteLength + ANSWER.slice().byteLength;
  };
}

function measure(enableSqlParsing: boolean | "copies"): number {
  const run = enableSqlParsing === "copies" ? copies() : session(enableSqlParsing);
  // CPU time, not wall-clock: on a loaded machine the process waits for a core too.
  const t0 = process.cpuUsage();
  for (let i = 0; i < queries; i++) run();
  const spent = process.cpuUsage(t0);
  return ((spent.user + spent.system) * 1000) / queries; // ns per query
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
// Warm-up: both variants compiled before anything is timed.
measure(true);
measure(false);
measure("copies");
const on: number[] = [];
const off: number[] = [];
const copied: number[] = [];
for (let round = 0; round < rounds; round++) {
  copied.push(measure("copies"));
  if (round % 2 === 0) {
    on.push(measure(true));
    off.push(measure(false));
  } else {
    off.push(measure(false));
    on.push(measure(true));
  }
}
if (sink === 0) throw new Error("the copies were not made");
const runtime = (globalThis as { Bun?: unknown }).Bun ? "bun" : (globalThis as { Deno?: unknown }).Deno ? "deno" : "node";
const us = (ns: number) => (ns / 1000).toFixed(2);
console.log(
  `${runtime}: postgres_proxy per query (${JSON.stringify(sql)}, both directions), median of ${rounds} rounds of ${queries}: ` +
    `${us(median(on))} µs with SQL parsing (${on.map(us).join(" ")}), ${us(median(off))} µs without (${off.map(us).join(" ")}); ` +
    `the fresh copies of the bytes alone ${us(median(copied))} µs (${copied.map(us).join(" ")})`,
);
