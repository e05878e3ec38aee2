/**
 * Self-training (pseudo-labelling): after the plan's phases, each round labels the target images
 * with the current model, keeps those predicted with probability at least `threshold`, and trains
 * on source batches each paired with a batch of those confident target images and their labels.
 */
import * as tf from '@tensorflow/tfjs';
import type { StepTerm } from './types.ts';

export interface Confident {
  readonly rows: Int32Array;
  /** Predicted class of every target image (only `rows` are used). */
  readonly labels: Int32Array;
}

/** Rows whose top probability reaches `threshold`, with every row's argmax. */
export function confidentRows(probabilities: Float32Array, classes: number, threshold: number): Confident {
  const count = probabilities.length / classes;
  const labels = new Int32Array(count);
  const rows: number[] = [];
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[i * classes + c]! > probabilities[i * classes + best]!) best = c;
    labels[i] = best;
    if (probabilities[i * classes + best]! >= threshold) rows.push(i);
  }
  return { rows: Int32Array.from(rows), labels };
}

export function pseudolabelTerm(confident: () => Confident, targetRows: (count: number) => Int32Array, classes: number): StepTerm {
  return {
    targetRows,
    domainHits: false,
    // The rows' labels, one-hot: made before the step, as the source batch's are.
    values: (rows) => (rows.length === 0 ? [] : [tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(rows, (r) => confident().labels[r]!), 'int32'), classes).toFloat())]),
    loss({ predictions, sourceCount, targetCount }, [y]) {
      if (targetCount === 0) return { loss: tf.scalar(0) };
      const target = predictions.slice([sourceCount, 0], [-1, -1]);
      return { loss: tf.mean(tf.metrics.categoricalCrossentropy(y!, target)) as tf.Scalar };
    },
  };
}
