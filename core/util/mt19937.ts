/**
 * The 32-bit Mersenne Twister, exactly as C++'s std::mt19937 (Matsumoto & Nishimura,
 * 1998; the parameters of [rand.predef]): Envoy seeds one with a request's hash where
 * the same hash must give the same sequence (thread_aware_lb_impl.cc, bounded loads).
 */
const N = 624;
const M = 397;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /** std::mt19937(seed): only the low 32 bits of the seed are used. */
  constructor(seed: number | bigint) {
    const state = this.state;
    state[0] = Number(BigInt(seed) & 0xffff_ffffn);
    for (let i = 1; i < N; i++) {
      const prev = state[i - 1]!;
      state[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
  }

  /** The next 32-bit output (operator()). */
  next(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const state = this.state;
    for (let i = 0; i < N; i++) {
      const y = (state[i]! & 0x8000_0000) | (state[(i + 1) % N]! & 0x7fff_ffff);
      state[i] = state[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}
