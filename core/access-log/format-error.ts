/** A format string or dictionary that cannot be compiled; the message names the operator or specifier. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}
