/**
 * Imbalanced training data. `data ... balance` weights each image's loss by its class's weight,
 * N / (K n_c) for N images of K classes and n_c of its class (scikit-learn's class_weight
 * 'balanced'): a rare class counts as much as a common one, and the weights average 1 over the
 * training set, so the loss keeps its scale. Without `balance`, a lopsided set gets a warning.
 */

import { classCounts } from './data/image-set.ts';
import type { ImageSet } from './data/index.ts';

/** Each class's weight; 0 for a class with no training image (no row carries it). */
export function balancedWeights(set: Pick<ImageSet, 'labels'>, classes: number): Float32Array {
  return Float32Array.from(classCounts(set, classes), (n) => (n > 0 ? set.labels.length / (classes * n) : 0));
}

/** The ratio of the most common class's images to the rarest's past which a run warns. */
export const IMBALANCE_WARNING = 5;

/** Why the training set wants `balance`, or null when its classes are within IMBALANCE_WARNING of each other. */
export function imbalanceWarning(set: Pick<ImageSet, 'labels'>, classes: readonly string[]): string | null {
  const counts = classCounts(set, classes.length);
  let most = 0;
  let least = 0;
  counts.forEach((n, c) => {
    if (n > counts[most]!) most = c;
    if (n < counts[least]!) least = c;
  });
  const [high, low] = [counts[most]!, counts[least]!];
  if (low === 0 || high < IMBALANCE_WARNING * low) return null;
  const ratio = Math.round(high / low);
  return `the training images are imbalanced: '${classes[most]}' has ${high.toLocaleString('en-US')} and '${classes[least]}' ${low.toLocaleString('en-US')} (${ratio} to 1); add 'balance' to the data statement to weight the loss so that each class counts the same`;
}
