/**
 * A module imported once, on first need, by code that uses it synchronously afterwards (a
 * connection's or a pool's creation): `load()` starts or joins the import, `loaded` is the
 * module once it is in. A failed load is not kept: the next `load()` tries again. Each user
 * names its own import() (`new LazyModule(() => import("./x.ts"), …)`), so esbuild and the
 * import-cycle check see the edge where it is.
 *
 * The memory runtime's tests drive the proxy synchronously (runtime.advance): a load, which
 * only the real event loop completes, would not happen inside it, so they load every lazy
 * module first (`LazyModule.loadAll()`, test/memory/support/load-lazy-modules.ts).
 */
export class LazyModule<M> {
  /** Every LazyModule made (one per use site, at its module's evaluation). */
  private static readonly all: LazyModule<unknown>[] = [];

  /** Load every LazyModule made so far (tests on the memory runtime, see above). */
  static loadAll(): Promise<unknown[]> {
    return Promise.all(LazyModule.all.map((module) => module.load()));
  }

  /** The module, once loaded. */
  loaded: M | undefined;
  private loading: Promise<M> | undefined;

  /** `what` names the code in a failed load's message ("the HTTP/2 code"). */
  constructor(
    private readonly importer: () => Promise<M>,
    private readonly what: string,
  ) {
    LazyModule.all.push(this);
  }

  load(): Promise<M> {
    return (this.loading ??= this.importer().then(
      (module) => (this.loaded = module),
      (err: unknown) => {
        this.loading = undefined;
        throw new Error(`cannot load ${this.what}: ${err instanceof Error ? err.message : String(err)}`);
      },
    ));
  }

  /** The module for a caller that runs after a load it awaited: its absence is a bug, said so. */
  get(): M {
    if (this.loaded === undefined) throw new Error(`internal error: ${this.what} is used before it was loaded`);
    return this.loaded;
  }
}
