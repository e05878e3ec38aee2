/**
 * What a phase trains on: preprocessed images, or the cached activations of its frozen prefix.
 */
import * as tf from '@tensorflow/tfjs';
import type { Plan } from '../plan/schema.ts';
import { imageBatch, predictAll } from './batches.ts';
import type { Dataset, ImageSet } from './data/index.ts';
import { frozenFrontier, splitAt } from './frontier.ts';
import type { Network } from './network.ts';
import { webgpuBackendOf } from './backends/webgpu/backend.ts';

export type SetName = 'train' | 'val' | 'target';

export interface Inputs {
  /** What `model` takes for these rows: preprocessed images, or cached activations. */
  batch(set: SetName, indices: Int32Array): tf.Tensor;
  readonly model: tf.LayersModel;
  /** The layer whose activations are cached, or null when batches are images. */
  readonly cachedAt: string | null;
  dispose(): void;
}

export interface InputOptions {
  /** The most bytes of activations to cache; 0 caches none. */
  readonly cacheBytes: number;
  /** The adaptation's unlabelled target images, batched as 'target'. */
  readonly target: ImageSet | null;
  /** Told why a frozen prefix that could be cached is not. */
  readonly warn?: (message: string) => void;
}

/** The most bytes of activations a phase caches, by default: past it the frozen prefix runs at every batch. */
export const CACHE_BYTES = 2e9;

const size = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

/**
 * Inputs for one phase's training. Without augmentation, the frozen prefix up to the phase's frozen
 * frontier runs once per phase and the rest trains on its cached activations, where they fit in
 * `cacheBytes` (and, on webgpu, each set's in one buffer binding); otherwise every batch runs the
 * whole network.
 */
export async function prepareInputs(
  net: Network, data: Dataset, plan: Plan, preprocess: Network['base']['preprocess'], { cacheBytes, target, warn }: InputOptions,
): Promise<Inputs> {
  const sets = { train: data.train, val: data.val, target };
  const images = (set: SetName, idx: Int32Array) => imageBatch(sets[set]!, idx, preprocess);
  const frontier = cacheBytes > 0 && plan.augment.length === 0 ? frozenFrontier(net) : null;
  const uncached = (why?: string): Inputs => {
    if (why !== undefined) warn?.(`the frozen layers' activations (up to '${frontier}') ${why}; the frozen layers run at every batch instead, which is slower`);
    return { batch: images, model: net.full, cachedAt: null, dispose() {} };
  };
  if (!frontier) return uncached();
  // float32 activations of the frontier layer, for every image the phase reads.
  const perImage = 4 * (net.base.model.getLayer(frontier).outputShape as number[]).slice(1).reduce((a, b) => a * b, 1);
  const counts = [data.train.count, data.val.count, target?.count ?? 0];
  const total = counts.reduce((a, b) => a + b, 0);
  if (perImage * total > cacheBytes) return uncached(`for ${total.toLocaleString('en-US')} images would take ${size(perImage * total)}, more than the ${size(cacheBytes)} TL caches`);
  const binding = tf.getBackend() === 'webgpu' ? webgpuBackendOf(tf.backend()).device.limits.maxStorageBufferBindingSize : Infinity;
  if (perImage * Math.max(...counts) > binding) return uncached(`of one set would take ${size(perImage * Math.max(...counts))}, more than this GPU binds at once (${size(binding)})`);
  const split = splitAt(net, frontier);
  const features = async (set: ImageSet | null, name: SetName) => {
    if (!set || set.count === 0) return null;
    const { data: values } = await predictAll(set.count, 32, (idx) => images(name, idx), split.prefix);
    const shape = split.prefix.outputs[0]!.shape.slice(1) as number[];
    return tf.tensor(values, [set.count, ...shape]);
  };
  // Target images go through the same cached prefix, so adaptation terms compare both domains at one layer.
  const cached = { train: await features(data.train, 'train'), val: await features(data.val, 'val'), target: await features(target, 'target') };
  return {
    model: split.trainer,
    cachedAt: frontier,
    batch: (set, idx) => tf.tidy(() => tf.gather(cached[set]!, tf.tensor1d(idx, 'int32'))),
    dispose: () => tf.dispose(Object.values(cached).filter((t): t is tf.Tensor => t !== null)),
  };
}
