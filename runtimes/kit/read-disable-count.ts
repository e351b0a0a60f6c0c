/**
 * Envoy's counted read disabling (`Network::Connection::readDisable`): nested
 * disables need as many enables. Returns the transitions the adapter must act on,
 * so each adapter only knows how to pause and resume its runtime's reads.
 */
export class ReadDisableCount {
  private count = 0;

  get disabled(): boolean {
    return this.count > 0;
  }

  /** Apply one call; returns "pause" or "resume" on a transition, else undefined. */
  apply(disable: boolean): "pause" | "resume" | undefined {
    if (disable) return ++this.count === 1 ? "pause" : undefined;
    if (this.count === 0) return undefined; // an unmatched enable is a no-op, as in Envoy
    return --this.count === 0 ? "resume" : undefined;
  }
}
