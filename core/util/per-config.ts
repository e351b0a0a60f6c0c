/**
 * What is derived from one config object — compiled matchers, a filter's shared state
 * and stats — made on its first use and kept for as long as the config lives. Config is
 * plain data (an adapter may load it in a worker and post it over), so what is made from it cannot
 * be stored inside it. `make`'s extra arguments (void when unused) are what the making
 * needs besides the config: the server, the filter chain.
 */
export class PerConfig<K extends object, V, A = void, B = void> {
  private readonly made = new WeakMap<K, V>();

  constructor(private readonly make: (key: K, a: A, b: B) => V) {}

  get(key: K, a: A, b: B): V {
    let value = this.made.get(key);
    if (value === undefined) {
      value = this.make(key, a, b);
      this.made.set(key, value);
    }
    return value;
  }
}
