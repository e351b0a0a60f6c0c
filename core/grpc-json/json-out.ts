/**
 * The JSON text being written by the gRPC-JSON printer: commas between items and, with
 * add_whitespace, a line break and one space of indent per level (json/internal/writer.h).
 */
export class JsonOut {
  text = "";
  private depth = 0;
  private readonly first: boolean[] = [];

  constructor(private readonly whitespace: boolean) {}

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
