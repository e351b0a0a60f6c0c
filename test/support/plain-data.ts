/**
 * Whether two values are the same plain data, as far as a program can tell them apart:
 * the same primitives (Object.is: -0 and NaN too), prototypes, frozen state, own keys in
 * the same order (a key whose value is undefined included), bytes, a Map's or Set's entries
 * in order, and the same sharing —
 * an object reached twice in one is one object reached twice in the other (a bijection).
 * Returns the first difference's path, or undefined when there is none.
 */
export function plainDataDifference(a: unknown, b: unknown): string | undefined {
  const pairs = new Map<object, object>();
  const reverse = new Map<object, object>();
  const walk = (x: unknown, y: unknown, path: string): string | undefined => {
    if (typeof x !== typeof y) return `${path}: ${typeof x} vs ${typeof y}`;
    if (x === null || y === null || typeof x !== "object") return Object.is(x, y) ? undefined : `${path}: ${String(x)} vs ${String(y)}`;
    const ox = x as object;
    const oy = y as object;
    const paired = pairs.get(ox);
    if (paired !== undefined || reverse.has(oy)) return paired === oy ? undefined : `${path}: shared differently`;
    pairs.set(ox, oy);
    reverse.set(oy, ox);
    if (Object.getPrototypeOf(ox) !== Object.getPrototypeOf(oy)) return `${path}: another prototype`;
    if (Object.isFrozen(ox) !== Object.isFrozen(oy) || Object.isExtensible(ox) !== Object.isExtensible(oy)) return `${path}: frozen or extensible differently`;
    if (ox instanceof Map || ox instanceof Set) {
      // Entries in order, keys and values alike compared as data.
      const ex = [...(ox as Map<unknown, unknown>).entries()];
      const ey = [...(oy as Map<unknown, unknown>).entries()];
      if (ex.length !== ey.length) return `${path}: ${ex.length} vs ${ey.length} entries`;
      for (let i = 0; i < ex.length; i++) {
        const found = walk(ex[i]![0], ey[i]![0], `${path}[key ${i}]`) ?? walk(ex[i]![1], ey[i]![1], `${path}[entry ${i}]`);
        if (found !== undefined) return found;
      }
    }
    const kx = Reflect.ownKeys(ox);
    const ky = Reflect.ownKeys(oy);
    if (kx.length !== ky.length || kx.some((k, i) => k !== ky[i])) return `${path}: keys ${kx.map(String).join(",")} vs ${ky.map(String).join(",")}`;
    for (const key of kx) {
      const dx = Object.getOwnPropertyDescriptor(ox, key)!;
      const dy = Object.getOwnPropertyDescriptor(oy, key)!;
      if (dx.enumerable !== dy.enumerable || dx.writable !== dy.writable || dx.configurable !== dy.configurable) return `${path}.${String(key)}: attributes differ`;
      if (!("value" in dx) || !("value" in dy)) return `${path}.${String(key)}: an accessor`;
      const found = walk(dx.value, dy.value, `${path}.${String(key)}`);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(a, b, "$");
}
