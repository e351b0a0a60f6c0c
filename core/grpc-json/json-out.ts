/**
 * The JSON text being written by the gRPC-JSON printer: commas between items and, with
 * add_whitespace, a line break and one space of indent per level (json/internal/writer.h).
 * Bounded: past `maxLength` characters it stops (JsonTooLongError), so a small message of
 * many nested entries (indent grows with depth) costs no more than the limit's worth of work.
 */
export class JsonOut {
  private textSoFar = "";
  private depth = 0;
  private readonly first: boolean[] = [];

  constructor(
    private readonly whitespace: boolean,
    private readonly maxLength = Number.POSITIVE_INFINITY,
  ) {}

  get text(): string {
    return this.textSoFar;
  }

  private set text(value: string) {
    if (value.length > this.maxLength) throw new JsonTooLongError(`the JSON is longer than ${this.maxLength} characters`);
    this.textSoFar = value;
  }

  open(bracket: "{" | "["): void {
    this.text += bracket;
    this.depth++;
    this.first.push(true);
  }

  close(bracket: "}" | "]"): void {
    this.depth--;
    if (!this.first.pop()!) this.newline();
    this.text += bracket;
  }

  /** Before a member (its key already quoted) or an element: the comma, the line break and indent. */
  item(quotedKey: string | undefined): void {
    const top = this.first.length - 1;
    if (!this.first[top]) this.text += ",";
    this.first[top] = false;
    this.newline();
    if (quotedKey !== undefined) this.text += this.whitespace ? `${quotedKey}: ` : `${quotedKey}:`;
  }

  raw(value: string): void {
    this.text += value;
  }

  newline(): void {
    if (this.whitespace) this.text += `\n${" ".repeat(this.depth)}`;
  }
}

/** The JSON passed the printer's limit (the transcoder answers it as its buffer limit reached). */
export class JsonTooLongError extends Error {}
