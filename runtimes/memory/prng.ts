/**
 * A small seeded PRNG (sfc32, seeded through splitmix32): the memory runtime's only
 * source of randomness, so a run is replayable from its seed.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Fill `into` with random bytes. */
  fill(into: Uint8Array): void {
    const whole = into.length & ~3;
    let i = 0;
    for (; i < whole; i += 4) {
      const word = this.next32();
      // A Uint8Array store keeps the low 8 bits.
      into[i] = word;
      into[i + 1] = word >>> 8;
      into[i + 2] = word >>> 16;
      into[i + 3] = word >>> 24;
    }
    if (i < into.length) {
      const word = this.next32();
      for (let k = 0; i < into.length; i++, k += 8) into[i] = word >>> k;
    }
  }

  /** A float in [0, 1). */
  random(): number {
    return this.next32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.random() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}
