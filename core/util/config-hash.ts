/**
 * A config object as a canonical string, for telling a changed listener or cluster from
 * an unchanged one (Envoy compares a hash of the proto, MessageUtil::hash): object keys
 * sorted, so the order a file lists fields in does not matter. What is not plain data
 * (a function, a class instance other than a RegExp, Map, Set or byte array) makes the
 * value unique, so it always counts as changed: a change is never missed.
 */
export function configHash(value: unknown): string {
  return canonical(value);
}

let uniqueCount = 0;

function canonical(value: unknown): string {
  if (value === undefined) return "u";
  if (value === null || typeof value === "number" || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value instanceof RegExp) return `/${value.source}/${value.flags}`;
  if (value instanceof Uint8Array) return `b${Array.from(value).join(".")}`;
  if (value instanceof Map) return `M[${[...value.entries()].map(([k, v]) => `${canonical(k)}:${canonical(v)}`).join(",")}]`;
  if (value instanceof Set) return `S[${[...value].map(canonical).join(",")}]`;
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto === Object.prototype || proto === null) {
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(",")}}`;
    }
  }
  return `#${++uniqueCount}`;
}
