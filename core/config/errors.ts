/**
 * Config problems. Envoy stops at the first invalid field; we collect every problem
 * we can find so one edit-run cycle fixes them all. Each problem is one line,
 * `path: message`, with the path in Envoy's snake_case field names
 * (e.g. `static_resources.listeners[0].address.socket_address.port_value`).
 */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** A location in the config tree: field names and array indices. */
export type ConfigPath = ReadonlyArray<PropertyKey>;

/** `["static_resources", "listeners", 0, "name"]` → `static_resources.listeners[0].name`; the root is `config`. */
export function formatPath(path: ConfigPath): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    // A key with a line break or control character (a YAML complex key is one, stringified)
    // would break the one-line problem: quoted in brackets, like an index.
    else if (typeof key === "string" && (key === "" || /[\x00-\x1f\x7f]/.test(key))) text += `[${JSON.stringify(key)}]`;
    else text += (text === "" ? "" : ".") + String(key);
  }
  return text === "" ? "config" : text;
}

/** One problem line. */
export function problemAt(path: ConfigPath, message: string): string {
  return `${formatPath(path)}: ${message}`;
}
