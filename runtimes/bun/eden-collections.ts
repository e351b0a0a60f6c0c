import { edenGC } from "bun:jsc";

/** Socket reads between two collections: a small proxied request makes two. */
export const DEFAULT_READS_PER_EDEN_COLLECTION = 5000;

/**
 * Young-generation collections between bursts of reads instead of inside them.
 * JavaScriptCore collects its eden when allocation crosses a budget, in the middle of
 * whichever request is being handled, and for polyvoy that pause is ~0.5–0.8 ms almost
 * however little was allocated (docs/performance.md, "Tail latency"): that request and
 * those read with it wait it out. Every `readsPerCollection` socket reads since the last
 * collection, one is run from `setImmediate`, which Bun runs after the callbacks of the
 * poll being handled and before the next poll: the burst just read has been answered,
 * and what arrives next finds the pause over or shorter.
 *
 * The budget grows with the heap that survives collections: 6.6 MB while the config was
 * validated in a Worker, 9.3 MB with the config loader in the proxy's heap (as it is
 * again, docs/performance.md), which small proxied GETs (two reads, ~1.9 KB) use up in
 * ~6,900 and ~9,700 reads. The default leaves room below either for requests that
 * allocate more; with the 6.6 MB budget, at 8,000 it ran out first in 40 of 55
 * collections, at 5,000 in 1 of ~75. When JavaScriptCore collects first all the same, the count starts again from
 * there, so the two never run close together. 0 turns this off.
 */
export class EdenCollections {
  private reads = 0;
  private scheduled = false;
  /**
   * Tells when any collection has run: it holds one new, unreachable object at a time,
   * which the next collection — ours or JavaScriptCore's own — frees, and the registry
   * then calls back (a WeakRef would not do: `deref` keeps its target alive to the end
   * of the task, and reads are counted in every task).
   */
  private readonly collections = new FinalizationRegistry<undefined>(() => this.onCollected());

  constructor(readonly readsPerCollection: number) {
    if (readsPerCollection > 0) this.collections.register({}, undefined);
  }

  /** Socket reads since the last collection (as far as this has seen it). */
  get readsSinceCollection(): number {
    return this.reads;
  }

  /** Count a socket read (every `data` event of every socket). */
  onRead(): void {
    if (this.readsPerCollection === 0 || ++this.reads < this.readsPerCollection || this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.collect);
  }

  private readonly collect = (): void => {
    this.scheduled = false;
    this.reads = 0;
    edenGC();
  };

  private onCollected(): void {
    this.reads = 0;
    this.collections.register({}, undefined);
  }
}
