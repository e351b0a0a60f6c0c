/**
 * Plain data as JSON text that decodes to an equal graph: what a checked config is (the
 * schemas' output and the document as read), kept between starts (checked-config-cache.ts).
 * JSON alone would lose what the config's objects may hold — a property whose value is
 * `undefined` (`"x" in o` differs), -0, NaN and ±Infinity (YAML's `.nan`, `.inf`), bigints,
 * bytes, objects without a prototype, frozen objects, and one object reached twice (a YAML
 * alias, a value both the document and the bootstrap hold), and the Maps the schemas build
 * (route upgrades, per-filter configs) — so every container is a JSON
 * array whose first element says what it is:
 *   ["A", …items]  an array            ["O", k, v, k, v, …]  an object (Object.prototype)
 *   ["N", k, v, …] an object without a prototype   (each with "F" appended when frozen)
 *   ["M", k, v, …] a Map               ["S", …values]  a Set
 *   ["Y", …bytes]  a Uint8Array        ["R", n]  the n-th container again (in encoding order)
 *   ["U"] undefined   ["D", "NaN" | "Infinity" | "-Infinity" | "-0"]   ["B", "123"] a bigint
 * Strings, booleans, null and other numbers are themselves. Anything else — a class's
 * instance, a Date, a function, a symbol, an accessor, a sparse array, an object sealed but
 * not frozen — is not plain data: encode returns undefined, and the config is not kept.
 */

/** Thrown inside encode when the value is not plain data; encode returns undefined then. */
class NotPlainData extends Error {}

/** `value` as JSON text decodePlainData turns back into an equal graph; undefined when it is not plain data. */
export function encodePlainData(value: unknown): string | undefined {
  const seen = new Map<object, number>();
  const encode = (v: unknown): unknown => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        if (Number.isNaN(v)) return ["D", "NaN"];
        if (v === Infinity) return ["D", "Infinity"];
        if (v === -Infinity) return ["D", "-Infinity"];
        return Object.is(v, -0) ? ["D", "-0"] : v;
      case "undefined":
        return ["U"];
      case "bigint":
        return ["B", v.toString()];
      case "object": {
        if (v === null) return null;
        const id = seen.get(v);
        if (id !== undefined) return ["R", id];
        seen.set(v, seen.size);
        if (v instanceof Uint8Array) {
          if (Object.getPrototypeOf(v) !== Uint8Array.prototype || Object.keys(v).length !== v.length) throw new NotPlainData();
          return ["Y", ...v];
        }
        if (v instanceof Map || v instanceof Set) {
          // Nothing but its entries: no own property, not frozen (which would not freeze its entries).
          if (Object.getPrototypeOf(v) !== (v instanceof Map ? Map.prototype : Set.prototype) || Reflect.ownKeys(v).length > 0 || !Object.isExtensible(v)) throw new NotPlainData();
          const out: unknown[] = [v instanceof Map ? "M" : "S"];
          if (v instanceof Map) for (const [key, item] of v) out.push(encode(key), encode(item));
          else for (const item of v) out.push(encode(item));
          return out;
        }
        const frozen = Object.isFrozen(v);
        // Sealed or not extensible, but not frozen: not something a decoder would make again.
        if (!frozen && !Object.isExtensible(v)) throw new NotPlainData();
        const flag = frozen ? "F" : "";
        if (Array.isArray(v)) {
          if (Object.getPrototypeOf(v) !== Array.prototype) throw new NotPlainData();
          const out: unknown[] = ["A" + flag];
          const keys = Reflect.ownKeys(v);
          // Dense, and nothing but its items and length.
          if (keys.length !== v.length + 1) throw new NotPlainData();
          for (let i = 0; i < v.length; i++) {
            if (!Object.prototype.hasOwnProperty.call(v, i)) throw new NotPlainData();
            out.push(encode(v[i]));
          }
          return out;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) throw new NotPlainData();
        const out: unknown[] = [(proto === null ? "N" : "O") + flag];
        for (const key of Reflect.ownKeys(v)) {
          if (typeof key !== "string") throw new NotPlainData();
          const d = Object.getOwnPropertyDescriptor(v, key)!;
          if (!("value" in d) || !d.enumerable || (!frozen && (!d.writable || !d.configurable))) throw new NotPlainData();
          out.push(key, encode(d.value));
        }
        return out;
      }
      default:
        throw new NotPlainData();
    }
  };
  try {
    return JSON.stringify(encode(value));
  } catch (err) {
    if (err instanceof NotPlainData) return undefined;
    throw err;
  }
}

/** The value encodePlainData wrote. Throws on text it did not write (a damaged file: the caller checks the config instead). */
export function decodePlainData(text: string): unknown {
  const containers: object[] = [];
  const decode = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (!Array.isArray(v) || typeof v[0] !== "string") throw new Error("not encoded plain data");
    const tag: string = v[0];
    switch (tag) {
      case "U":
        return undefined;
      case "D":
        return v[1] === "-0" ? -0 : number(v[1]);
      case "B":
        return BigInt(String(v[1]));
      case "R": {
        const found = containers[v[1] as number];
        if (found === undefined) throw new Error("not encoded plain data");
        return found;
      }
      case "Y": {
        const bytes = new Uint8Array(v.length - 1);
        containers.push(bytes);
        for (let i = 1; i < v.length; i++) bytes[i - 1] = v[i] as number;
        return bytes;
      }
      case "M": {
        const out = new Map<unknown, unknown>();
        containers.push(out);
        if (v.length % 2 !== 1) throw new Error("not encoded plain data");
        for (let i = 1; i < v.length; i += 2) {
          const key = decode(v[i]);
          out.set(key, decode(v[i + 1]));
        }
        return out;
      }
      case "S": {
        const out = new Set<unknown>();
        containers.push(out);
        for (let i = 1; i < v.length; i++) out.add(decode(v[i]));
        return out;
      }
      case "A":
      case "AF": {
        const out: unknown[] = [];
        containers.push(out);
        for (let i = 1; i < v.length; i++) out.push(decode(v[i]));
        return tag === "AF" ? Object.freeze(out) : out;
      }
      case "O":
      case "OF":
      case "N":
      case "NF": {
        const out: Record<string, unknown> = tag[0] === "N" ? Object.create(null) : {};
        containers.push(out);
        if (v.length % 2 !== 1) throw new Error("not encoded plain data");
        for (let i = 1; i < v.length; i += 2) {
          const key = v[i];
          if (typeof key !== "string") throw new Error("not encoded plain data");
          const value = decode(v[i + 1]);
          // An own property named __proto__ (JSON.parse makes one): an assignment would set the prototype.
          if (key === "__proto__") Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
          else out[key] = value;
        }
        return tag.endsWith("F") ? Object.freeze(out) : out;
      }
      default:
        throw new Error("not encoded plain data");
    }
  };
  return decode(JSON.parse(text));
}

function number(name: unknown): number {
  if (name === "NaN") return NaN;
  if (name === "Infinity") return Infinity;
  if (name === "-Infinity") return -Infinity;
  throw new Error("not encoded plain data");
}
