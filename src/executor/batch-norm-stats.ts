/**
 * Population BatchNorm statistics of a set of images: AdaBN, and precise BN before each validation.
 *
 * One pass over the set with every BatchNorm layer normalising by its batch's moments (so each layer
 * sees inputs shaped by the statistics of the domain being measured, as the layers before it will be
 * after the swap), keeping each batch's per-channel mean and variance; then the batches are pooled
 * in float64, var = sum n_b (var_b + (mean_b - mean)^2) / N. Where the backend has TL's
 * training-mode BatchNorm op (wasm, webgpu), a layer's batch is normalised and measured by it in
 * two passes over its activations; elsewhere by tf.moments and tf.batchNorm. Only the moving mean
 * and variance are written: gamma, beta and every other weight are left bit-identical.
 */
import * as tf from '@tensorflow/tfjs';
import { normaliseByBatch } from './backends/batchnorm-training.ts';
import { writeValuesInPlace } from './backends/in-place-writes.ts';
import { range } from './batches.ts';

interface LayerVariableLike {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

/** The private fields of tfjs' BatchNormalization layer this module reads and writes. */
interface BatchNormInternals {
  readonly name: string;
  call: (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
  readonly gamma: LayerVariableLike | null;
  readonly beta: LayerVariableLike | null;
  readonly movingMean: LayerVariableLike;
  readonly movingVariance: LayerVariableLike;
  getConfig(): { epsilon?: number; axis?: number | number[] };
}

export interface BatchNormStats {
  readonly mean: Float32Array;
  readonly variance: Float32Array;
}

export function batchNormLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
}

/** `x` normalised by its batch's moments, and those moments: a tensor whose first two rows are the mean and the variance. */
function normalise(bn: BatchNormInternals, x: tf.Tensor): [y: tf.Tensor, moments: tf.Tensor2D] {
  const config = bn.getConfig();
  const epsilon = config.epsilon ?? 1e-3;
  const configured = Array.isArray(config.axis) ? config.axis[0]! : (config.axis ?? -1);
  const axis = configured < 0 ? x.rank + configured : configured;
  if (axis === x.rank - 1 && bn.gamma && bn.beta) {
    const moving = { mean: bn.movingMean.read() as tf.Variable, variance: bn.movingVariance.read() as tf.Variable };
    const fused = normaliseByBatch(x, bn.gamma.read() as tf.Tensor1D, bn.beta.read() as tf.Tensor1D, epsilon, moving);
    if (fused) return fused;
  }
  const { mean, variance } = tf.moments(x, Array.from(range(x.rank).filter((a) => a !== axis)));
  return [tf.batchNorm(x, mean, variance, bn.beta?.read(), bn.gamma?.read(), epsilon), tf.stack([mean, variance]) as tf.Tensor2D];
}

/**
 * Measures every BatchNorm layer's input statistics over `count` images made by `makeBatch`,
 * running `model` (which contains the layers) in inference mode otherwise.
 */
export async function measureBatchNorm(
  model: tf.LayersModel,
  layers: readonly tf.layers.Layer[],
  count: number,
  makeBatch: (indices: Int32Array) => tf.Tensor,
  batchSize = 64,
): Promise<Map<string, BatchNormStats>> {
  /** Each layer's batches: their moments (kept past the pass's tidy) and how many values each channel had. */
  const batches = new Map<string, { moments: tf.Tensor2D; n: number }[]>(layers.map((l) => [l.name, []]));
  const originals = layers.map((l) => (l as unknown as BatchNormInternals).call);
  layers.forEach((layer) => {
    const bn = layer as unknown as BatchNormInternals;
    bn.call = (inputs) => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const [y, moments] = normalise(bn, x);
      batches.get(layer.name)!.push({ moments: tf.keep(moments), n: x.size / moments.shape[1] });
      return y;
    };
  });
  try {
    for (let start = 0; start < count; start += batchSize) {
      const idx = range(Math.min(batchSize, count - start)).map((i) => i + start);
      tf.tidy(() => {
        model.apply(makeBatch(idx), { training: false });
      });
    }
  } finally {
    layers.forEach((l, i) => ((l as unknown as BatchNormInternals).call = originals[i]!));
  }
  const stats = new Map<string, BatchNormStats>();
  for (const [name, parts] of batches) {
    if (parts.length === 0) continue;
    const channels = parts[0]!.moments.shape[1];
    const read = await Promise.all(parts.map(async (b) => ({ values: (await b.moments.data()) as Float32Array, n: b.n })));
    tf.dispose(parts.map((b) => b.moments));
    stats.set(name, pool(read, channels));
  }
  return stats;
}

/** The mean and variance of all batches together, from each batch's [mean; variance] rows and size, in float64. */
function pool(batches: readonly { values: Float32Array; n: number }[], channels: number): BatchNormStats {
  const total = batches.reduce((a, b) => a + b.n, 0);
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (const b of batches) m += (b.n * b.values[c]!) / total;
    let v = 0;
    for (const b of batches) v += (b.n * (b.values[channels + c]! + (b.values[c]! - m) ** 2)) / total;
    mean[c] = m;
    variance[c] = v;
  }
  return { mean, variance };
}

/** Writes measured statistics into the layers' moving mean and variance; nothing else changes. */
export function writeBatchNorm(layers: readonly tf.layers.Layer[], stats: ReadonlyMap<string, BatchNormStats>): void {
  for (const layer of layers) {
    const s = stats.get(layer.name);
    if (!s) continue;
    const bn = layer as unknown as BatchNormInternals;
    // Into the variables' own buffers where the backend can (webgpu): a recorded training step that
    // binds them stays valid (backends/webgpu/step-graph.ts).
    for (const [v, values] of [[bn.movingMean, s.mean], [bn.movingVariance, s.variance]] as const) {
      const typed = Float32Array.from(values);
      if (!writeValuesInPlace(v.read(), typed)) tf.tidy(() => void v.write(tf.tensor1d(typed)));
    }
  }
}
