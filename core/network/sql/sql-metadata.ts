/**
 * Which tables a SQL string touches and how (postgres_proxy and mysql_proxy), as Envoy's SQLUtils::setMetadata reports it
 * (contrib/common/sqlutils/source/sqlutils.cc, over Hyrise's sql-parser and its
 * tablesAccessed): `{ "<table>[.<database>]": ["select", "insert", …] }`, one entry per
 * statement appended to the table's list (each statement's operations sorted, as its
 * std::set gives them); a column written `table.column` names `table` with "unknown";
 * SHOW and database/schema statements add nothing. `undefined` when the text does not
 * parse: Envoy then counts statements_parse_error.
 *
 * This is a small recursive-descent parser for the statements Envoy's tests cover —
 * SELECT (joins, subqueries, set operations), INSERT, UPDATE, DELETE, CREATE/DROP/ALTER
 * TABLE and DATABASE/SCHEMA, SHOW, and transaction control — not Hyrise's whole grammar:
 * other statements (SET, COPY, WITH, …) are parse errors here. docs/configuration.md says so.
 */

type Token =
  | { kind: "word"; text: string; upper: string }
  /** A quoted identifier ("x" or `x`): never a keyword. */
  | { kind: "ident"; text: string }
  | { kind: "string" | "number" | "param"; text: string }
  | { kind: "op"; text: string };

/** Words that cannot name a table, column or alias (a subset of Hyrise's reserved keywords). */
const RESERVED = new Set(
  ("SELECT FROM WHERE INSERT INTO VALUES UPDATE SET DELETE CREATE DROP ALTER TABLE AND OR NOT NULL IS IN LIKE ILIKE " +
    "BETWEEN EXISTS JOIN INNER LEFT RIGHT FULL OUTER CROSS NATURAL ON USING GROUP BY ORDER HAVING LIMIT OFFSET UNION " +
    "INTERSECT EXCEPT ALL DISTINCT AS CASE WHEN THEN ELSE END ASC DESC TEXT SHOW DATABASE SCHEMA TRUE FALSE CAST PRIMARY KEY").split(" "),
);

const MAX_SQL_LENGTH = 1024 * 1024;

class ParseError extends Error {}

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < n && sql[i] !== "\n") i++;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) throw new ParseError("unterminated comment");
      i = end + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      const text = sql.slice(i, j);
      tokens.push({ kind: "word", text, upper: text.toUpperCase() });
      i = j;
    } else if (c === '"' || c === "`") {
      let j = i + 1;
      let text = "";
      for (;;) {
        if (j >= n) throw new ParseError("unterminated identifier");
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            text += c;
            j += 2;
            continue;
          }
          break;
        }
        text += sql[j++];
      }
      if (text === "") throw new ParseError("empty identifier");
      tokens.push({ kind: "ident", text });
      i = j + 1;
    } else if (c === "'") {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new ParseError("unterminated string");
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      tokens.push({ kind: "string", text: sql.slice(i + 1, j) });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const match = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(sql.slice(i, i + 64))!;
      tokens.push({ kind: "number", text: match[0] });
      i += match[0].length;
    } else if (c === "$" && /[0-9]/.test(sql[i + 1] ?? "")) {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql[j]!)) j++;
      tokens.push({ kind: "param", text: sql.slice(i, j) });
      i = j;
    } else if (c === "?") {
      tokens.push({ kind: "param", text: "?" });
      i++;
    } else {
      const two = sql.slice(i, i + 2);
      if (["<=", ">=", "<>", "!=", "||", "::"].includes(two)) {
        tokens.push({ kind: "op", text: two });
        i += 2;
      } else if ("(),;.*+-/%=<>[]".includes(c)) {
        tokens.push({ kind: "op", text: c });
        i++;
      } else {
        throw new ParseError(`unexpected character ${c}`);
      }
    }
  }
  return tokens;
}

/** Table → operations of one statement. */
type Access = Map<string, Set<string>>;

class Parser {
  private at = 0;
  access: Access = new Map();

  constructor(private readonly tokens: Token[]) {}

  get done(): boolean {
    return this.at >= this.tokens.length;
  }

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.at + offset];
  }

  private isWord(word: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token?.kind === "word" && token.upper === word;
  }

  private isOp(op: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token?.kind === "op" && token.text === op;
  }

  private acceptWord(...words: string[]): string | undefined {
    const token = this.peek();
    if (token?.kind === "word" && words.includes(token.upper)) {
      this.at++;
      return token.upper;
    }
    return undefined;
  }

  private expectWord(word: string): void {
    if (this.acceptWord(word) === undefined) throw new ParseError(`expected ${word}`);
  }

  private acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.at++;
    return true;
  }

  private expectOp(op: string): void {
    if (!this.acceptOp(op)) throw new ParseError(`expected ${op}`);
  }

  /** A name: an unreserved word or a quoted identifier. */
  private isName(offset = 0): boolean {
    const token = this.peek(offset);
    return token !== undefined && (token.kind === "ident" || (token.kind === "word" && !RESERVED.has(token.upper)));
  }

  private name(): string {
    if (!this.isName()) throw new ParseError("expected a name");
    return this.tokens[this.at++]!.text;
  }

  /** `name` or `schema.name`: the table's own name (Hyrise keeps the schema apart). */
  private tableName(): string {
    let name = this.name();
    if (this.acceptOp(".")) name = this.name();
    return name;
  }

  private touch(table: string, operation: string): void {
    let operations = this.access.get(table);
    if (operations === undefined) this.access.set(table, (operations = new Set()));
    operations.add(operation);
  }

  /** Skip `;`s; true when there was one. */
  semicolons(): boolean {
    let any = false;
    while (this.acceptOp(";")) any = true;
    return any;
  }

  /** One statement, up to `;` or the end. */
  statement(): void {
    this.access = new Map();
    const first = this.peek();
    if (first?.kind === "op" && first.text === "(") return this.select();
    if (first?.kind !== "word") throw new ParseError("expected a statement");
    switch (first.upper) {
      case "SELECT":
        return this.select();
      case "INSERT":
        return this.insert();
      case "UPDATE":
        return this.update();
      case "DELETE":
        return this.delete();
      case "CREATE":
        return this.create();
      case "DROP":
        return this.drop();
      case "ALTER":
        return this.alter();
      case "SHOW":
        return this.show();
      case "BEGIN":
      case "START":
      case "COMMIT":
      case "ROLLBACK":
        return this.transaction();
    }
    throw new ParseError(`unsupported statement ${first.text}`);
  }

  private select(): void {
    if (this.acceptOp("(")) {
      this.select();
      this.expectOp(")");
    } else {
      this.expectWord("SELECT");
      this.acceptWord("DISTINCT", "ALL");
      do this.selectItem();
      while (this.acceptOp(","));
      if (this.acceptWord("FROM")) {
        do this.tableRef();
        while (this.acceptOp(","));
      }
      if (this.acceptWord("WHERE")) this.expr();
      if (this.acceptWord("GROUP")) {
        this.expectWord("BY");
        this.exprList();
        if (this.acceptWord("HAVING")) this.expr();
      }
    }
    if (this.acceptWord("UNION", "INTERSECT", "EXCEPT")) {
      this.acceptWord("ALL", "DISTINCT");
      this.select();
      return;
    }
    if (this.acceptWord("ORDER")) {
      this.expectWord("BY");
      do {
        this.expr();
        this.acceptWord("ASC", "DESC");
      } while (this.acceptOp(","));
    }
    if (this.acceptWord("LIMIT")) {
      if (!this.acceptWord("ALL")) this.expr();
    }
    if (this.acceptWord("OFFSET")) this.expr();
  }

  private selectItem(): void {
    if (!this.acceptOp("*")) this.expr();
    if (this.acceptWord("AS")) this.name();
    else if (this.isName()) this.name();
  }

  private tableRef(): void {
    this.tablePrimary();
    for (;;) {
      const natural = this.acceptWord("NATURAL") !== undefined;
      const kind = this.acceptWord("INNER", "LEFT", "RIGHT", "FULL", "CROSS");
      if (kind === "LEFT" || kind === "RIGHT" || kind === "FULL") this.acceptWord("OUTER");
      if (!this.acceptWord("JOIN")) {
        if (natural || kind !== undefined) throw new ParseError("expected JOIN");
        return;
      }
      this.tablePrimary();
      if (this.acceptWord("ON")) this.expr();
      else if (this.acceptWord("USING")) {
        this.expectOp("(");
        do this.name();
        while (this.acceptOp(","));
        this.expectOp(")");
      }
    }
  }

  private tablePrimary(): void {
    if (this.acceptOp("(")) {
      this.select();
      this.expectOp(")");
    } else {
      this.touch(this.tableName(), "select");
    }
    if (this.acceptWord("AS")) this.name();
    else if (this.isName()) this.name();
  }

  private insert(): void {
    this.expectWord("INSERT");
    this.acceptWord("LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY");
    this.acceptWord("IGNORE");
    this.expectWord("INTO");
    this.touch(this.tableName(), "insert");
    if (this.isOp("(") && !this.isWord("SELECT", 1)) {
      this.expectOp("(");
      do this.name();
      while (this.acceptOp(","));
      this.expectOp(")");
    }
    if (this.acceptWord("VALUES")) {
      do {
        this.expectOp("(");
        this.exprList();
        this.expectOp(")");
      } while (this.acceptOp(","));
    } else {
      this.select();
    }
  }

  private update(): void {
    this.expectWord("UPDATE");
    this.acceptWord("LOW_PRIORITY");
    this.acceptWord("IGNORE");
    this.touch(this.tableName(), "update");
    if (this.acceptWord("AS")) this.name();
    else if (this.isName()) this.name();
    this.expectWord("SET");
    do {
      this.columnRef();
      this.expectOp("=");
      this.expr();
    } while (this.acceptOp(","));
    if (this.acceptWord("WHERE")) this.expr();
  }

  private delete(): void {
    this.expectWord("DELETE");
    this.acceptWord("LOW_PRIORITY");
    this.acceptWord("QUICK");
    this.acceptWord("IGNORE");
    this.expectWord("FROM");
    this.touch(this.tableName(), "delete");
    if (this.acceptWord("WHERE")) this.expr();
  }

  private create(): void {
    this.expectWord("CREATE");
    if (this.acceptWord("DATABASE", "SCHEMA")) return this.databaseStatement(true);
    this.acceptWord("TEMPORARY", "TEMP");
    if (this.acceptWord("VIEW")) {
      this.touch(this.tableName(), "create");
      this.expectWord("AS");
      return this.select();
    }
    this.expectWord("TABLE");
    if (this.acceptWord("IF")) {
      this.expectWord("NOT");
      this.expectWord("EXISTS");
    }
    this.touch(this.tableName(), "create");
    if (this.acceptWord("AS")) return this.select();
    this.expectOp("(");
    do this.columnDefinition();
    while (this.acceptOp(","));
    this.expectOp(")");
  }

  /** `name type[(n)] [constraints]`, or a table constraint; read to the next `,` or `)`. */
  private columnDefinition(): void {
    if (this.acceptWord("PRIMARY", "FOREIGN", "UNIQUE", "CONSTRAINT", "CHECK") === undefined) {
      this.name();
      const type = this.peek();
      if (type?.kind !== "word") throw new ParseError("expected a column type");
    }
    this.skipBalanced();
  }

  /** Tokens up to a `,` or `)` outside parentheses (or `;`). */
  private skipBalanced(): void {
    let depth = 0;
    for (;;) {
      const token = this.peek();
      if (token === undefined) return;
      if (token.kind === "op") {
        if (token.text === "(") depth++;
        else if (token.text === ")") {
          if (depth === 0) return;
          depth--;
        } else if ((token.text === "," && depth === 0) || (token.text === ";" && depth === 0)) return;
      }
      this.at++;
    }
  }

  private drop(): void {
    this.expectWord("DROP");
    if (this.acceptWord("DATABASE", "SCHEMA")) return this.databaseStatement(false);
    if (this.acceptWord("TABLE", "VIEW") === undefined) throw new ParseError("expected TABLE, VIEW, DATABASE or SCHEMA");
    if (this.acceptWord("IF")) this.expectWord("EXISTS");
    do this.touch(this.tableName(), "drop");
    while (this.acceptOp(","));
  }

  private alter(): void {
    this.expectWord("ALTER");
    if (this.acceptWord("DATABASE", "SCHEMA")) {
      this.name();
      if (this.done || this.isOp(";")) throw new ParseError("expected an alteration");
      this.skipStatement();
      return;
    }
    this.expectWord("TABLE");
    if (this.acceptWord("IF")) this.expectWord("EXISTS");
    this.touch(this.tableName(), "alter");
    if (this.done || this.isOp(";")) throw new ParseError("expected an alteration");
    this.skipStatement();
  }

  /** CREATE/DROP DATABASE|SCHEMA [IF [NOT] EXISTS] name: no table. */
  private databaseStatement(create: boolean): void {
    if (this.acceptWord("IF")) {
      if (create) this.expectWord("NOT");
      this.expectWord("EXISTS");
    }
    this.name();
  }

  private show(): void {
    this.expectWord("SHOW");
    const what = this.acceptWord("TABLES", "DATABASES", "SCHEMAS", "COLUMNS");
    if (what === undefined) throw new ParseError("expected TABLES, DATABASES or COLUMNS");
    if (what === "COLUMNS") this.tableName();
  }

  private transaction(): void {
    const word = this.acceptWord("BEGIN", "START", "COMMIT", "ROLLBACK")!;
    if (word === "START") this.expectWord("TRANSACTION");
    else this.acceptWord("TRANSACTION", "WORK");
  }

  /** The rest of an ALTER: any tokens with balanced parentheses. */
  private skipStatement(): void {
    let depth = 0;
    while (!this.done && !(depth === 0 && this.isOp(";"))) {
      if (this.isOp("(")) depth++;
      else if (this.isOp(")") && --depth < 0) throw new ParseError("unbalanced )");
      this.at++;
    }
    if (depth !== 0) throw new ParseError("unbalanced (");
  }

  private exprList(): void {
    do this.expr();
    while (this.acceptOp(","));
  }

  private expr(): void {
    this.andExpr();
    while (this.acceptWord("OR")) this.andExpr();
  }

  private andExpr(): void {
    this.notExpr();
    while (this.acceptWord("AND")) this.notExpr();
  }

  private notExpr(): void {
    if (this.acceptWord("NOT")) return this.notExpr();
    this.comparison();
  }

  private comparison(): void {
    this.additive();
    for (;;) {
      const token = this.peek();
      if (token?.kind === "op" && ["=", "<>", "!=", "<", ">", "<=", ">="].includes(token.text)) {
        this.at++;
        this.additive();
        continue;
      }
      if (this.acceptWord("IS")) {
        this.acceptWord("NOT");
        if (this.acceptWord("NULL", "TRUE", "FALSE") === undefined) throw new ParseError("expected NULL");
        continue;
      }
      const negated = this.isWord("NOT") && (this.isWord("LIKE", 1) || this.isWord("ILIKE", 1) || this.isWord("IN", 1) || this.isWord("BETWEEN", 1));
      if (negated) this.at++;
      if (this.acceptWord("LIKE", "ILIKE")) {
        this.additive();
        continue;
      }
      if (this.acceptWord("IN")) {
        this.expectOp("(");
        if (this.isWord("SELECT")) this.select();
        else this.exprList();
        this.expectOp(")");
        continue;
      }
      if (this.acceptWord("BETWEEN")) {
        this.additive();
        this.expectWord("AND");
        this.additive();
        continue;
      }
      if (negated) throw new ParseError("expected LIKE, IN or BETWEEN");
      return;
    }
  }

  private additive(): void {
    this.multiplicative();
    while (this.acceptOp("+") || this.acceptOp("-") || this.acceptOp("||")) this.multiplicative();
  }

  private multiplicative(): void {
    this.unary();
    while (this.acceptOp("*") || this.acceptOp("/") || this.acceptOp("%")) this.unary();
  }

  private unary(): void {
    if (this.acceptOp("-") || this.acceptOp("+")) return this.unary();
    this.primary();
    while (this.acceptOp("::")) this.name();
  }

  private primary(): void {
    const token = this.peek();
    if (token === undefined) throw new ParseError("expected an expression");
    if (token.kind === "number" || token.kind === "string" || token.kind === "param") {
      this.at++;
      return;
    }
    if (token.kind === "op") {
      if (token.text !== "(") throw new ParseError(`unexpected ${token.text}`);
      this.at++;
      if (this.isWord("SELECT")) this.select();
      else this.exprList();
      this.expectOp(")");
      return;
    }
    if (token.kind === "word") {
      switch (token.upper) {
        case "NULL":
        case "TRUE":
        case "FALSE":
          this.at++;
          return;
        case "EXISTS":
          this.at++;
          this.expectOp("(");
          this.select();
          this.expectOp(")");
          return;
        case "CASE":
          return this.caseExpr();
        case "CAST":
          this.at++;
          this.expectOp("(");
          this.expr();
          this.expectWord("AS");
          this.name();
          this.expectOp(")");
          return;
      }
    }
    if (this.isName() && this.isOp("(", 1)) {
      this.at += 2;
      if (!this.acceptOp(")")) {
        this.acceptWord("DISTINCT");
        if (!this.acceptOp("*")) this.exprList();
        this.expectOp(")");
      }
      return;
    }
    this.columnRef();
  }

  /** `column` or `table.column` (`table.*`): the table is touched as "unknown", as Hyrise does. */
  private columnRef(): void {
    const first = this.name();
    if (this.acceptOp(".")) {
      if (!this.acceptOp("*")) this.name();
      this.touch(first, "unknown");
    }
  }

  private caseExpr(): void {
    this.expectWord("CASE");
    if (!this.isWord("WHEN")) this.expr();
    if (!this.isWord("WHEN")) throw new ParseError("expected WHEN");
    while (this.acceptWord("WHEN")) {
      this.expr();
      this.expectWord("THEN");
      this.expr();
    }
    if (this.acceptWord("ELSE")) this.expr();
    this.expectWord("END");
  }
}

/** The tables `sql` touches, keyed `<table>.<database>` when the session named a database; undefined: not parsed. */
export function sqlMetadata(sql: string, database: string | undefined): Record<string, string[]> | undefined {
  if (sql.length > MAX_SQL_LENGTH) return undefined;
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (error) {
    if (error instanceof ParseError) return undefined;
    throw error;
  }
  const parser = new Parser(tokens);
  const metadata: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  const suffix = database !== undefined ? `.${database}` : "";
  try {
    parser.semicolons();
    while (!parser.done) {
      parser.statement();
      if (!parser.semicolons() && !parser.done) return undefined;
      for (const [table, operations] of parser.access) (metadata[table + suffix] ??= []).push(...[...operations].sort());
    }
  } catch (error) {
    if (error instanceof ParseError || error instanceof RangeError) return undefined;
    throw error;
  }
  return { ...metadata };
}
