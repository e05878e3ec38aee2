/**
 * A small seeded PRNG (mulberry32) for everything random in the executor's data path: the
 * validation split, the batch order and every augmentation draw.
 *
 * Randomness comes from JavaScript, never from `tf.random*`, so a run is reproduced bit for bit
 * from its seed on every backend, and the draws do not depend on which backend or how many
 * kernels ran. mulberry32 has a 2^32 period, far more than a training run draws.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer uniform in [0, n). */
  int(n: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** Gamma(shape, 1) (Marsaglia-Tsang). */
  gamma(shape: number): number;
  /** Beta(a, b), e.g. the mixing weight of mixup and cutmix. */
  beta(a: number, b: number): number;
  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array;
  /** Shuffles `items` in place and returns it. */
  shuffle<T>(items: T[]): T[];
  /** Where the sequence stands (plain JSON, kept in checkpoints). */
  state(): RngState;
  /** Continues the sequence from a `state()`, as if every draw since had been made. */
  restore(state: RngState): void;
}

export interface RngState {
  readonly s: number;
  readonly spareNormal: number | null;
}

/**
 * Creates a generator from a seed; the same seed gives the same sequence on every run.
 *
 * @example
 * const rng = createRng(plan.seed);
 * const order = rng.permutation(train.count);
 */
export function createRng(seed: number): Rng {
  // Mix the seed so that nearby seeds (0, 1, 2...) start far apart.
  let s = hashSeed(seed);
  let spareNormal: number | null = null;

  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const normal = (): number => {
    if (spareNormal !== null) {
      const v = spareNormal;
      spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };

  const gamma = (shape: number): number => {
    if (!(shape > 0)) throw new RangeError(`gamma shape must be positive, got ${shape}`);
    if (shape < 1) {
      // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
      let u = 0;
      while (u === 0) u = next();
      return gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };

  const rng: Rng = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (n) => Math.floor(next() * n),
    normal,
    gamma,
    beta(a, b) {
      const x = gamma(a);
      const y = gamma(b);
      // Both underflow to 0 only for tiny shapes; split the mass evenly rather than return NaN.
      return x + y === 0 ? 0.5 : x / (x + y);
    },
    permutation(n) {
      const p = new Int32Array(n);
      for (let i = 0; i < n; i++) p[i] = i;
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = p[i]!;
        p[i] = p[j]!;
        p[j] = t;
      }
      return p;
    },
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = items[i]!;
        items[i] = items[j]!;
        items[j] = t;
      }
      return items;
    },
    state: () => ({ s, spareNormal }),
    restore(state) {
      s = state.s;
      spareNormal = state.spareNormal;
    },
  };
  return rng;
}

/** murmur3's 32-bit finalizer: spreads small integer seeds over the whole state space (a signed 32-bit integer). */
export function hashSeed(seed: number): number {
  let h = (Math.floor(seed) ^ 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
