/**
 * AdaBN (Li et al., 2016), as the paper means it: BatchNorm statistics are re-estimated on the
 * source images before training (so the head learns on features normalised with source statistics,
 * not the pretrained ones), then statistics estimated on the target images are swapped in: after
 * training (`at end`) or after every phase (`at phase`; the next phase re-estimates the source ones
 * first). Only moving means and variances change.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ImageSet } from '../data/index.ts';
import { batchNormLayers, measureBatchNorm, writeBatchNorm } from '../batch-norm-stats.ts';

export interface AdabnOptions {
  /** The full network (input images -> probabilities). */
  readonly model: tf.LayersModel;
  /** The base, whose BatchNorm layers are re-estimated. */
  readonly base: tf.LayersModel;
  readonly images: (set: ImageSet, indices: Int32Array) => tf.Tensor;
}

export interface Adabn {
  /** Number of BatchNorm layers. */
  readonly layers: number;
  /** Measures `set` and writes its statistics into every BatchNorm layer. */
  useStatisticsOf(set: ImageSet): Promise<void>;
}

export function adabn(options: AdabnOptions): Adabn {
  const layers = batchNormLayers(options.base);
  return {
    layers: layers.length,
    async useStatisticsOf(set) {
      const stats = await measureBatchNorm(options.model, layers, set.count, (idx) => options.images(set, idx));
      writeBatchNorm(layers, stats);
    },
  };
}
