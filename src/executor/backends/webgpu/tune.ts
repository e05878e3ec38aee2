/**
 * The GEMM tile of each convolution product chosen by measurement on the device, as cuDNN's
 * benchmark mode chooses its algorithms: the products one forward and backward pass of a model
 * runs are recorded, each is run again with every tile that fits its shape (gemm.ts `tilesFor`:
 * 64 x 64, the 128-wide tiles where C reaches 128, the thin ones where it has under 64 columns;
 * where K splits, each also with K whole: `choicesFor`) on inputs of its shapes (and with tfjs's
 * own kernel, where it has one for the whole product: the forward convolution and the stride-1
 * input gradient), and the fastest is kept for the rest of the process (gemm.ts
 * `measuredChoices`). Unless another is more than 3% faster, the tile by shape stands. Each
 * option's time a run is the difference of two chains of runs (`slope`), in rounds that take the
 * options in turn (`timeOptions`), after the pass has kept the GPU busy for a while (`warmUp`): the
 * first GPU run's tuner, which divided one short chain's time by its runs with each option timed
 * after the other, timed products at 2-5x their time inside a step. About 60 distinct products
 * for a ResNet50 training step, milliseconds each on a GPU; the software adapter takes seconds to
 * minutes, so the executor tunes on a GPU only (select.ts `prepareForTraining`), and keeps the
 * choices for its next runs on that GPU (tile-cache.ts).
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { webgpuBackendOf } from './backend.ts';
import type { TileCache } from './tile-cache.ts';
import { choicesFor, gemmCode, measuredChoices, parseChoice, recordProducts, runGemm, setGemmTile, tileFor, tileName, TILES, type Choice, type RecordedProduct, type TileName } from './gemm.ts';

/** One product as measured: what it is, milliseconds per run on each option, and what it runs on now. */
export interface TunedProduct {
  readonly source: string;
  readonly dims: { readonly m: number; readonly n: number; readonly k: number };
  readonly ms: Readonly<Partial<Record<Choice, number>>>;
  readonly choice: Choice;
}

export interface TuneResult {
  /** Distinct products chosen for (those chosen for before in this process are left out). */
  readonly products: number;
  /** Of those, how many took the choice a tile cache kept instead of being measured. */
  readonly cached: number;
  /** Of those, how many take each tile now (K split or not), how many keep K whole, how many tfjs's kernel, and how many differ from the rule by shape. */
  readonly tiles: Readonly<Record<TileName, number>>;
  readonly unsplit: number;
  readonly backend: number;
  readonly changed: number;
  readonly ms: number;
  /** Every product measured (not those taken from a cache), for benchmarks to report. */
  readonly measured: readonly TunedProduct[];
}

/**
 * Waits for the GPU to finish everything queued before `t` by reading one value of it (a full read
 * of a large output would cost more than the kernels being timed).
 */
export async function waitFor(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), 0, 1));
  await one.data();
  one.dispose();
}

/** Wall milliseconds of `n` runs queued back to back and waited for once. */
export type Chain = (n: number) => Promise<number>;

/**
 * How many runs make a chain's timing worth having: doubled from 1 until n more runs take at least
 * `targetMs` (or `maxRuns` is reached). Timed by difference, as `slope` times.
 */
export async function runsFor(chain: Chain, targetMs: number, maxRuns: number): Promise<number> {
  let n = 1;
  while (2 * n <= maxRuns && (await chain(2 * n)) - (await chain(n)) < targetMs) n *= 2;
  return n;
}

/**
 * Milliseconds a run: the difference between chains of 2n and n runs, over n. Every chain also
 * pays a fixed cost once (queuing its first command, the submit, reading a value back: on the
 * H200 about as long as a small product's whole chain), which dividing one chain's time by its
 * runs would count in; the difference leaves it out. NaN where noise made the difference negative.
 */
export async function slope(chain: Chain, n: number): Promise<number> {
  const ms = ((await chain(2 * n)) - (await chain(n))) / n;
  return ms > 0 ? ms : Number.NaN;
}

/** The median of the numbers among `values` (NaN where there are none). */
function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Chains long enough that 3 ms of runs separate the two a slope compares, with at most this many runs. */
const TARGET_MS = 3;
const MAX_RUNS = 64;
/** Rounds of every option in turn; each option's time is its median. */
const ROUNDS = 3;
/** An option this many times slower than the fastest in the first round is not timed again. */
const OUT_OF_RUNNING = 2;

/**
 * Milliseconds a run of each option, measured in rounds that take every option once, each
 * option's time the median of its rounds (a round that a pause of the host or the GPU spoiled is
 * left out). A GPU's clock rises under load (345 MHz idle on the H200): options timed one after
 * the other, each in full, would each be timed at another clock, the later ones the faster. The
 * caller warms the GPU up first (`warmUp`), and in rounds the options share what drift is left.
 * All options are timed with the same number of runs, found on the first. An option that took
 * over twice the fastest's time in the first round sits out the others (its time is that round's):
 * the rounds after the first are there to settle close calls, and the first GPU run's tuner found
 * many options 2-5x slower than the best (the 128 tile on most products, tfjs's kernel on most
 * input gradients), each costing a round's chains for nothing.
 */
export async function timeOptions<O>(options: readonly O[], chainOf: (option: O) => Chain): Promise<Map<O, number>> {
  const chains = options.map((o) => chainOf(o));
  for (const chain of chains) await chain(1); // compiles each pipeline
  const n = await runsFor(chains[0]!, TARGET_MS, MAX_RUNS);
  const samples = options.map(() => [] as number[]);
  let running = chains.map((_, i) => i);
  for (let round = 0; round < ROUNDS; round++) {
    for (const i of running) samples[i]!.push(await slope(chains[i]!, n));
    if (round === 0) {
      const fastest = Math.min(...running.map((i) => samples[i]![0]!).filter((ms) => !Number.isNaN(ms)));
      running = running.filter((i) => !(samples[i]![0]! > OUT_OF_RUNNING * fastest));
    }
  }
  return new Map(options.map((o, i) => [o, median(samples[i]!)]));
}

/** The chain of runs of `product` on `choice`, on `inputs`. */
function productChain(product: RecordedProduct, inputs: readonly tf.Tensor[], choice: Choice): Chain {
  const backend = webgpuBackendOf(tf.backend());
  const once = () => (choice === 'backend' ? product.backendKernel!(inputs) : runGemm(backend, product.source, product.dims, inputs, product.uniforms, product.outShape));
  return async (n) => {
    if (choice !== 'backend') setGemmTile(choice);
    try {
      const t0 = performance.now();
      let last: tf.Tensor | undefined;
      for (let i = 0; i < n; i++) {
        last?.dispose();
        last = tf.engine().makeTensorFromTensorInfo(once());
      }
      await waitFor(last!);
      last!.dispose();
      return performance.now() - t0;
    } finally {
      setGemmTile('auto');
    }
  };
}

/** How long the pass runs before the first product is timed. */
const WARM_UP_MS = 300;

/** Keeps the GPU busy with `pass` for at least `ms`, so that its clocks have risen before anything is timed. */
async function warmUp(pass: () => tf.Tensor | tf.Tensor[], ms: number): Promise<void> {
  const t0 = performance.now();
  do {
    const out = tf.tidy(pass);
    const outs = Array.isArray(out) ? out : [out];
    await waitFor(outs[0]!);
    tf.dispose(outs);
  } while (performance.now() - t0 < ms);
}

/**
 * The key of a product's choice among `options` in a tile cache: the product, and a fingerprint of
 * every option's code (the GEMM's WGSL on each tile; tfjs's version for its kernel and its part
 * of every program), so that a changed kernel or a new option measures the product again.
 */
export function cacheKey(product: RecordedProduct, options: readonly Choice[]): string {
  const hash = createHash('sha256').update(`tfjs ${tf.version.tfjs}`);
  for (const option of options) hash.update(`\n${option}\n`).update(option === 'backend' ? 'tfjs' : gemmCode(product.source, TILES[parseChoice(option).tile], product.dims));
  return `${product.key}#${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Measures the tiles of every product `pass` runs (it is run once, on webgpu, with TL's kernels
 * registered, and its results disposed) and keeps the faster of each: for the rest of the process,
 * and in `cache` where given, whose choices are taken instead of measuring where it has them.
 */
export async function tuneGemmTiles(pass: () => tf.Tensor | tf.Tensor[], cache?: TileCache): Promise<TuneResult> {
  const started = performance.now();
  const products = recordProducts(() => {
    tf.dispose(tf.tidy(pass));
  }).filter((p) => !measuredChoices.has(p.key));
  const tiles = Object.fromEntries(Object.keys(TILES).map((name) => [name, 0])) as Record<TileName, number>;
  let backend = 0;
  let unsplit = 0;
  let changed = 0;
  let cached = 0;
  const measured: TunedProduct[] = [];
  let warm = false;
  const { maxComputeWorkgroupStorageSize: workgroupBytes, maxStorageBufferBindingSize: maxBinding } = webgpuBackendOf(tf.backend()).device.limits;
  for (const product of products) {
    const rule = tileName(tileFor(product.dims.m, product.dims.n));
    const others = choicesFor(product, workgroupBytes, maxBinding).filter((choice) => choice !== rule);
    const options: Choice[] = [rule, ...others, ...(product.backendKernel ? ['backend' as const] : [])];
    const key = cache && cacheKey(product, options);
    let choice = key === undefined ? undefined : cache!.get(key);
    if (choice !== undefined && options.includes(choice)) {
      cached++;
    } else {
      if (!warm) await warmUp(pass, WARM_UP_MS);
      warm = true;
      const inputs = product.inputShapes.map((shape) => tf.randomUniform([...shape], -1, 1));
      try {
        const ms = await timeOptions(options, (option) => productChain(product, inputs, option));
        choice = rule;
        for (const option of options) if (ms.get(option)! < 0.97 * ms.get(choice)!) choice = option;
        measured.push({ source: product.source.key, dims: product.dims, ms: Object.fromEntries(ms), choice });
        if (key !== undefined) cache!.set(key, choice);
      } finally {
        tf.dispose(inputs);
      }
    }
    measuredChoices.set(product.key, choice);
    if (choice === 'backend') {
      backend++;
    } else {
      const { tile, whole } = parseChoice(choice);
      tiles[tile]++;
      if (whole) unsplit++;
    }
    if (choice !== rule) changed++;
  }
  return { products: products.length, cached, tiles, unsplit, backend, changed, ms: performance.now() - started, measured };
}

/**
 * The pass a training step of `model` runs at `batch`, for tuneGemmTiles: the forward pass and the
 * gradients of its trainable weights (so every product the step runs), in inference mode so that
 * nothing (BatchNorm's moving statistics) changes.
 */
export function trainingPass(model: tf.LayersModel, batch: number): () => tf.Tensor[] {
  return () => {
    const x = tf.zeros(model.inputs[0]!.shape.map((d, i) => (i === 0 ? batch : (d ?? 1))));
    const loss = () => {
      const y = model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
      return tf.addN((Array.isArray(y) ? y : [y]).map((t) => tf.sum(t))) as tf.Scalar;
    };
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    if (weights.length === 0) return [loss()];
    const { value, grads } = tf.variableGrads(loss, weights);
    return [value, ...Object.values(grads)];
  };
}
