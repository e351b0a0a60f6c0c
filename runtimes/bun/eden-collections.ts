import { edenGC } from "bun:jsc";

/** Socket reads between two scheduled collections: a small proxied request makes two. */
export const DEFAULT_READS_PER_EDEN_COLLECTION = 4000;

/**
 * Young-generation collections between bursts of reads instead of inside them.
 * JavaScriptCore collects its eden when allocation crosses a budget (~9 MB here), in the
 * middle of whichever request is being handled, and for polyvoy that pause is ~0.8 ms
 * almost however little was allocated (README, "Tail latency"): that request and those
 * read with it wait it out. Every `readsPerCollection` socket reads, one collection is run
 * from `setImmediate`, which Bun runs after the callbacks of the poll being handled and
 * before the next poll: the burst just read has been answered, and what arrives next
 * finds the pause over or shorter. A small proxied request is two reads allocating ~3.5 KB,
 * so the default comes a little before the budget would: the collections move more than
 * they multiply. 0 turns this off.
 */
export class EdenCollections {
  private reads = 0;
  private scheduled = false;

  constructor(readonly readsPerCollection: number) {}

  /** Count a socket read (every `data` event of every socket). */
  onRead(): void {
    if (this.readsPerCollection === 0 || ++this.reads < this.readsPerCollection || this.scheduled) return;
    this.reads = 0;
    this.scheduled = true;
    setImmediate(this.collect);
  }

  private readonly collect = (): void => {
    this.scheduled = false;
    edenGC();
  };
}
