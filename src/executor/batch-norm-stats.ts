/**
 * Population BatchNorm statistics of a set of images: AdaBN, and precise BN before each validation.
 *
 * One pass over the set with every BatchNorm layer normalising by its batch's moments (so each layer
 * sees inputs shaped by the statistics of the domain being measured, as the layers before it will be
 * after the swap) while the per-channel mean and E[x²] are accumulated; then
 * var = E[x²] - mean². Only the moving mean and variance are written: gamma, beta and every other
 * weight are left bit-identical.
 */
import * as tf from '@tensorflow/tfjs';
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
  const sums = new Map<string, { s1: tf.Tensor; s2: tf.Tensor; n: number }>();
  const originals = layers.map((l) => (l as unknown as BatchNormInternals).call);
  layers.forEach((layer) => {
    const bn = layer as unknown as BatchNormInternals;
    const config = bn.getConfig();
    const axis = Array.isArray(config.axis) ? config.axis[0]! : (config.axis ?? -1);
    bn.call = (inputs) => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const reduce = range(x.rank).filter((a) => a !== (axis < 0 ? x.rank + axis : axis));
      const { mean, variance } = tf.moments(x, Array.from(reduce));
      const n = x.size / mean.size;
      const prev = sums.get(layer.name);
      const s1 = tf.keep(tf.mul(mean, n));
      const s2 = tf.keep(tf.mul(tf.add(variance, tf.square(mean)), n));
      sums.set(layer.name, prev ? { s1: tf.keep(tf.add(prev.s1, s1)), s2: tf.keep(tf.add(prev.s2, s2)), n: prev.n + n } : { s1, s2, n });
      if (prev) tf.dispose([prev.s1, prev.s2, s1, s2]);
      return tf.batchNorm(x, mean, variance, bn.beta?.read(), bn.gamma?.read(), config.epsilon ?? 1e-3);
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
  for (const [name, { s1, s2, n }] of sums) {
    const mean = new Float32Array(await s1.data());
    const variance = new Float32Array(await s2.data());
    tf.dispose([s1, s2]);
    for (let c = 0; c < mean.length; c++) {
      mean[c] = mean[c]! / n;
      variance[c] = Math.max(0, variance[c]! / n - mean[c]! * mean[c]!);
    }
    stats.set(name, { mean, variance });
  }
  return stats;
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
