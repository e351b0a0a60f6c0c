/**
 * The SQL table metadata of postgres_proxy and mysql_proxy (core/network/sql/sql-metadata.ts), on
 * Envoy's own cases (contrib/common/sqlutils/test/sqlutils_test.cc): each query as
 * written, lower-cased and upper-cased parses the same (table names compared in lower
 * case, as Envoy's test does); what its parser refuses is refused here.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { sqlMetadata } from "../../../../core/network/sql/sql-metadata.ts";
import { fuzzParameters } from "../../../support/fuzz.ts";

type Case = [string, Record<string, string[]> | undefined, string?];

const ENVOY_CASES: Case[] = [
  ["blahblah;", undefined],
  ["CREATE TABLE IF NOT EXISTS table1(Usr VARCHAR(40),Count INT);", { table1: ["create"] }],
  ["CREATE TABLE IF NOT EXISTS `table number 1`(Usr VARCHAR(40),Count INT);", { "table number 1.testdb": ["create"] }, "testdb"],
  ["CREATE TABLE IF NOT EXISTS table1(Usr VARCHAR(40),Count INT); SELECT * from table1;", { table1: ["create", "select"] }],
  ["CREATE TABLE IF NOT EXISTS table1(Usr VARCHAR(40),Count INT); SELECT * from table2;", { table1: ["create"], table2: ["select"] }],
  ["CREATE TABLE table1(Usr VARCHAR(40),Count INT);", { table1: ["create"] }],
  ["CREATE TABLE;", undefined],
  ["CREATE TEMPORARY table table1(Usr VARCHAR(40),Count INT);", { table1: ["create"] }],
  ["DROP TABLE IF EXISTS table1", { table1: ["drop"] }],
  ["ALTER TABLE table1 add column Id varchar (20);", { table1: ["alter"] }],
  ["INSERT INTO table1 (Usr, Count) VALUES ('allsp2', 3);", { table1: ["insert"] }],
  ["INSERT LOW_PRIORITY INTO table1 (Usr, Count) VALUES ('allsp2', 3);", { table1: ["insert"] }],
  ["INSERT IGNORE INTO table1 (Usr, Count) VALUES ('allsp2', 3);", { table1: ["insert"] }],
  ["INSERT INTO table1 (Usr, Count) VALUES ('allsp2', 3);SELECT * from table1", { table1: ["insert", "select"] }],
  ["DELETE FROM table1 WHERE Count > 3;", { table1: ["delete"] }],
  ["DELETE LOW_PRIORITY FROM table1 WHERE Count > 3;", { table1: ["delete"] }],
  ["DELETE QUICK FROM table1 WHERE Count > 3;", { table1: ["delete"] }],
  ["DELETE IGNORE FROM table1 WHERE Count > 3;", { table1: ["delete"] }],
  ["SELECT * FROM table1 WHERE Count = 1;", { table1: ["select"] }],
  ["SELECT product.category FROM table1 WHERE Count = 1;", { table1: ["select"], product: ["unknown"] }],
  ["SELECT DISTINCT Usr FROM table1;", { table1: ["select"] }],
  ["SELECT Usr, Count FROM table1 ORDER BY Count DESC;", { "table1.testdb": ["select"] }, "testdb"],
  ["SELECT 12 AS a, a FROM table1 GROUP BY a;", { table1: ["select"] }],
  ["SELECT;", undefined],
  ["SELECT Usr, Count FROM;", undefined],
  ["INSERT INTO table1 SELECT * FROM table2;", { table1: ["insert"], table2: ["select"] }],
  ["INSERT INTO table1 SELECT tbl_temp1.fld_order_id FROM table2;", { tbl_temp1: ["unknown"], table2: ["select"], table1: ["insert"] }],
  ["UPDATE table1 SET col1 = col1 + 1", { table1: ["update"] }],
  ["UPDATE LOW_PRIORITY table1 SET col1 = col1 + 1", { table1: ["update"] }],
  ["UPDATE IGNORE table1 SET col1 = col1 + 1", { table1: ["update"] }],
  ["UPDATE table1 SET  column1=(SELECT * columnX from table2);", { table1: ["update"], table2: ["select"] }],
  ["CREATE DATABASE testdb;", {}],
  ["CREATE DATABASE IF NOT EXISTS testdb;", {}],
  ["ALTER DATABASE testdb CHARACTER SET charset_name;", {}],
  ["ALTER DATABASE testdb default CHARACTER SET charset_name;", {}],
  ["ALTER DATABASE testdb default CHARACTER SET = charset_name;", {}],
  ["ALTER SCHEMA testdb default CHARACTER SET = charset_name;", {}],
  ["DROP DATABASE testdb;", {}],
  ["DROP DATABASE IF EXISTS testdb;", {}],
  ["SHOW databases;", {}],
  ["SHOW tables;", {}],
  ["SELECT * FROM;", undefined],
  ["SELECT 1 FROM tabletest1;", { tabletest1: ["select"] }],
  ["CREATE TABLE test ( text VARCHAR(255) );", undefined],
  ["SHOW DATABASE();", undefined],
];

/** Table names lower-cased, each table's operations sorted: Envoy's test compares them so. */
function normalized(metadata: Record<string, string[]> | undefined) {
  if (metadata === undefined) return undefined;
  return Object.fromEntries(Object.entries(metadata).map(([table, ops]) => [table.toLowerCase(), [...ops].sort()]));
}

describe("postgres_proxy SQL metadata", () => {
  test.each(ENVOY_CASES)("%s", (sql, expected, database) => {
    for (const variant of [sql, sql.toLowerCase(), sql.toUpperCase()]) {
      expect(normalized(sqlMetadata(variant, database))).toEqual(normalized(expected));
    }
  });

  test("joins, subqueries in WHERE, set operations and aliases", () => {
    expect(sqlMetadata("SELECT o.id FROM orders o JOIN customers c ON o.cid = c.id WHERE o.total > (SELECT avg(total) FROM orders)", undefined)).toEqual({
      o: ["unknown"],
      orders: ["select"],
      c: ["unknown"],
      customers: ["select"],
    });
    expect(sqlMetadata("SELECT id FROM a UNION ALL SELECT id FROM b WHERE id IN (1, 2) AND name LIKE 'x%' LIMIT 5", "db")).toEqual({ "a.db": ["select"], "b.db": ["select"] });
  });

  test("each statement appends to the table's list", () => {
    expect(sqlMetadata("SELECT * FROM t; SELECT * FROM t; DELETE FROM t", undefined)).toEqual({ t: ["select", "select", "delete"] });
  });

  test("statements its parser does not know are parse errors", () => {
    for (const sql of ["SET search_path TO x", "COPY t FROM STDIN", "WITH x AS (SELECT 1) SELECT * FROM x", "SELECT 'unterminated", "SELECT (1"]) {
      expect(sqlMetadata(sql, undefined)).toBeUndefined();
    }
  });

  test("a table named __proto__ is an ordinary key", () => {
    const metadata = sqlMetadata('SELECT * FROM "__proto__"', undefined)!;
    expect(Object.keys(metadata)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
  });

  test("fuzz: any text parses or is refused, never throws", () => {
    const words = fc.constantFrom("SELECT", "FROM", "WHERE", "(", ")", ",", ";", "t", "'s'", "1", "*", ".", "=", "AND", "INSERT", "INTO", "VALUES", "JOIN", "ON", '"q"', "--", "/*", "*/");
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(words, { maxLength: 40 }).map((w) => w.join(" "))), (sql) => {
        expect(() => sqlMetadata(sql, undefined)).not.toThrow();
      }),
      fuzzParameters(1000),
    );
  });

  test("deep nesting is refused, not a crash", () => {
    expect(sqlMetadata("SELECT " + "(".repeat(100000) + "1" + ")".repeat(100000), undefined)).toBeUndefined();
  });
});
