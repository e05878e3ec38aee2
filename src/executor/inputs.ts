/**
 * What a phase trains on: preprocessed images, or the cached activations of its frozen prefix.
 */
import * as tf from '@tensorflow/tfjs';
import type { Plan } from '../plan/schema.ts';
import { imageBatch, predictAll } from './batches.ts';
import type { Dataset, ImageSet } from './data/index.ts';
import { frozenFrontier, splitAt } from './frontier.ts';
import type { Network } from './network.ts';

export type SetName = 'train' | 'val' | 'target';

export interface Inputs {
  /** What `model` takes for these rows: preprocessed images, or cached activations. */
  batch(set: SetName, indices: Int32Array): tf.Tensor;
  readonly model: tf.LayersModel;
  /** The layer whose activations are cached, or null when batches are images. */
  readonly cachedAt: string | null;
  dispose(): void;
}

/**
 * Inputs for one phase's training. Without augmentation, the frozen prefix up to the phase's frozen
 * frontier runs once per phase and the rest trains on its cached activations; otherwise every batch
 * runs the whole network.
 */
export async function prepareInputs(
  net: Network, data: Dataset, plan: Plan, preprocess: Network['base']['preprocess'], cache: boolean, target: ImageSet | null,
): Promise<Inputs> {
  const sets = { train: data.train, val: data.val, target };
  const images = (set: SetName, idx: Int32Array) => imageBatch(sets[set]!, idx, preprocess);
  const frontier = cache && plan.augment.length === 0 ? frozenFrontier(net) : null;
  if (!frontier) return { batch: images, model: net.full, cachedAt: null, dispose() {} };
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
