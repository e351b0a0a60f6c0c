/**
 * Where and why a JSON text is not JSON (RFC 8259), in JSON's own terms: engines word
 * JSON.parse's errors differently and some give no position, so a .json config is
 * re-read here once JSON.parse has refused it.
 */

export interface JsonSyntaxError {
  /** 1-based. */
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

class Failed {
  constructor(
    readonly at: number,
    readonly message: string,
  ) {}
}

/** The first syntax error in `text`, or undefined if it is valid JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new Failed(at, message);
  };
  const describe = (): string => (i >= text.length ? "the end of the text" : `${JSON.stringify(text[i])}`);
  const space = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const string = () => {
    i++; // the opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) return void i++;
      if (c < 0x20) fail("a control character in a string must be escaped");
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("\\u must be followed by four hex digits");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`invalid escape \\${e ?? ""} in a string`);
      } else i++;
    }
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (match === null || match[0] === "-") fail(`invalid number`);
    i += match![0].length;
    if (i < text.length && /[0-9.eE+-]/.test(text[i]!)) fail("invalid number");
  };
  const value = (depth: number): void => {
    if (depth > 1000) fail("nested too deeply");
    space();
    const c = text[i];
    if (c === "{") {
      i++;
      space();
      if (text[i] === "}") return void i++;
      for (;;) {
        space();
        if (text[i] !== '"') fail(`expected a member name in double quotes, found ${describe()}`);
        string();
        space();
        if (text[i] !== ":") fail(`expected ':' after a member name, found ${describe()}`);
        i++;
        value(depth + 1);
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") return void i++;
        fail(`expected ',' or '}' after an object member, found ${describe()}`);
      }
    }
    if (c === "[") {
      i++;
      space();
      if (text[i] === "]") return void i++;
      for (;;) {
        value(depth + 1);
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") return void i++;
        fail(`expected ',' or ']' after an array element, found ${describe()}`);
      }
    }
    if (c === '"') return string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    fail(`expected a value, found ${describe()}`);
  };

  try {
    value(0);
    space();
    if (i < text.length) fail(`unexpected ${describe()} after the top-level value`);
    return undefined;
  } catch (err) {
    if (!(err instanceof Failed)) throw err;
    const before = text.slice(0, err.at);
    const line = before.split("\n").length;
    const column = err.at - (before.lastIndexOf("\n") + 1) + 1;
    return { line, column, message: err.message };
  }
}
