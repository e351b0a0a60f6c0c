/**
 * google.api.http's path template (google/api/http.proto, "Path template syntax"; parsed as
 * grpc-httpjson-transcoding's src/http_template.cc parses it):
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * `{x}` is `{x=*}`; "/" alone is the root. `**` matches the rest of the path, so it is the
 * last segment (http_template.cc ValidateParts); variables do not nest.
 */

/** A template that cannot be parsed; the message says where. */
export class HttpTemplateError extends Error {}

/** A variable over template segments [start, end): `{name=rooms/*}` spans two. */
export interface TemplateVariable {
  readonly fieldPath: readonly string[];
  readonly start: number;
  readonly end: number;
}

export interface HttpTemplate {
  /** Each segment: its literal text, "*" (one segment) or "**" (the rest of the path). */
  readonly segments: readonly string[];
  /** The custom verb after ':' ("lend"), or "" for none. */
  readonly verb: string;
  readonly variables: readonly TemplateVariable[];
}

/** The characters a LITERAL may not contain: the grammar's own punctuation. */
const NOT_LITERAL = new Set(["/", "{", "}", ":", "=", "*", "?", "#"]);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parse a template; an HttpTemplateError says what is wrong with it. */
export function parseHttpTemplate(text: string): HttpTemplate {
  return new TemplateParser(text).parse();
}

class TemplateParser {
  private at = 0;
  private readonly segments: string[] = [];
  private readonly variables: TemplateVariable[] = [];

  constructor(private readonly text: string) {}

  parse(): HttpTemplate {
    const text = this.text;
    if (text === "/") return { segments: [], verb: "", variables: [] };
    if (!text.startsWith("/")) this.fail("must start with '/'");
    this.at = 1;
    this.parseSegments(false);
    let verb = "";
    if (this.peek() === ":") {
      this.at++;
      verb = this.literal();
    }
    if (this.at < text.length) this.fail(`unexpected '${text[this.at]}'`);
    const doubleWildcard = this.segments.indexOf("**");
    if (doubleWildcard >= 0 && doubleWildcard !== this.segments.length - 1) this.fail("'**' must be the last segment");
    const seen = new Set<string>();
    for (const variable of this.variables) {
      const name = variable.fieldPath.join(".");
      if (seen.has(name)) this.fail(`variable '${name}' is bound twice`);
      seen.add(name);
    }
    return { segments: this.segments, verb, variables: this.variables };
  }

  private parseSegments(inVariable: boolean): void {
    for (;;) {
      this.parseSegment(inVariable);
      if (this.peek() !== "/") return;
      this.at++;
    }
  }

  private parseSegment(inVariable: boolean): void {
    const c = this.peek();
    if (c === "*") {
      const double = this.text[this.at + 1] === "*";
      this.at += double ? 2 : 1;
      this.segments.push(double ? "**" : "*");
      return;
    }
    if (c === "{") {
      if (inVariable) this.fail("variables may not nest");
      this.parseVariable();
      return;
    }
    this.segments.push(this.literal());
  }

  private parseVariable(): void {
    this.at++;
    const close = this.text.indexOf("}", this.at);
    const equals = this.text.indexOf("=", this.at);
    const nameEnd = equals >= 0 && (close < 0 || equals < close) ? equals : close;
    if (nameEnd < 0) this.fail("unterminated '{'");
    const fieldPath = this.text.slice(this.at, nameEnd).split(".");
    for (const ident of fieldPath) if (!IDENT.test(ident)) this.fail(`'${this.text.slice(this.at, nameEnd)}' is not a field path`);
    this.at = nameEnd;
    const start = this.segments.length;
    if (this.peek() === "=") {
      this.at++;
      this.parseSegments(true);
    } else {
      this.segments.push("*");
    }
    if (this.peek() !== "}") this.fail("expected '}'");
    this.at++;
    this.variables.push({ fieldPath, start, end: this.segments.length });
  }

  private literal(): string {
    const begin = this.at;
    while (this.at < this.text.length && !NOT_LITERAL.has(this.text[this.at]!)) this.at++;
    if (this.at === begin) this.fail(this.at < this.text.length ? `unexpected '${this.text[this.at]}'` : "unexpected end");
    return this.text.slice(begin, this.at);
  }

  private peek(): string | undefined {
    return this.text[this.at];
  }

  private fail(why: string): never {
    throw new HttpTemplateError(`invalid path template "${this.text}": ${why} (at ${this.at})`);
  }
}
