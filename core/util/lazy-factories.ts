/**
 * Factories registered by a loader (an `import()` of their module) and loaded once, when a
 * config first names their type: the HTTP and network filter registries' shared part. A
 * type asked for by two listeners at once is imported and made once; a failed load is not
 * kept, so a later listener tries again.
 */
export class LazyFactories<F> {
  /** Loaded factories, and the ones registered with the module already evaluated. */
  readonly factories = new Map<string, F>();
  /** Types whose module is imported when a config first uses one. */
  readonly loaders = new Map<string, () => Promise<F>>();
  /** Loads under way. */
  private readonly loading = new Map<string, Promise<void>>();

  /** `kind` names the registry in a failed load's message ("HTTP filter", "network filter"). */
  constructor(private readonly kind: string) {}

  /** The load of `type`'s factory when it is registered lazily and not loaded yet; else undefined. */
  load(type: string): Promise<void> | undefined {
    if (this.factories.has(type)) return undefined;
    let loading = this.loading.get(type);
    if (loading === undefined) {
      const load = this.loaders.get(type);
      if (load === undefined) return undefined;
      loading = load().then(
        (factory) => {
          this.factories.set(type, factory);
          this.loading.delete(type);
        },
        (err: unknown) => {
          this.loading.delete(type);
          throw new Error(`cannot load the code of ${this.kind} type '${type}': ${err instanceof Error ? err.message : String(err)}`);
        },
      );
      this.loading.set(type, loading);
    }
    return loading;
  }
}
