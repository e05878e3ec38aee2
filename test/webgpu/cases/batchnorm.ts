/**
 * Training-mode BatchNorm gradient cases: moments + batchNorm as tfjs-layers composes them, with
 * independent mean and variance (all five input gradients), and a tf.layers.batchNormalization
 * layer in training mode. (Without a scale tfjs 4.22 fails before any gradient runs, on every
 * backend: it saves the missing scale for backprop; so no case has none.)
 */
import * as tf from '@tensorflow/tfjs';
import { sameOnBoth, weightedSum, type ParityCase } from '../parity.ts';

const EPS = 1e-3;
const SHAPES: number[][] = [
  [2, 5, 5, 3],
  [1, 7, 7, 16],
  [3, 1, 1, 5],
  [32, 4],
  [5, 3, 70],
  // 2048 rows: the sums run in chunks and a second pass.
  [8, 16, 16, 33],
  [4, 9, 11, 64],
];

/** Batch statistics over every axis but the last, as tfjs-layers' BatchNormalization in training. */
function trainingBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, x.shape.slice(0, -1).map((_, i) => i));
  return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, EPS);
}

export function batchNormCases(): ParityCase[] {
  const channels = (s: number[]) => [s[s.length - 1] ?? 1];
  const batchStats = SHAPES.map((s) =>
    sameOnBoth(`batch statistics, grads of x, gamma, beta: ${s.join('x')}`, [s, channels(s), channels(s)], (x, g, b) =>
      tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => weightedSum(trainingBatchNorm(xx, tf.add(gg, 1.5), bb)))([x!, g!, b!]),
    ),
  );
  const independent = SHAPES.slice(0, 5).map((s) =>
    sameOnBoth(`independent statistics, all five gradients: ${s.join('x')}`, [s, ...Array.from({ length: 4 }, () => channels(s))], (x, m, v, g, b) =>
      tf.grads((xx: tf.Tensor, mm: tf.Tensor, vv: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        weightedSum(tf.batchNorm(xx, mm as tf.Tensor1D, tf.add(tf.abs(vv), 0.5) as tf.Tensor1D, bb as tf.Tensor1D, gg as tf.Tensor1D, EPS)),
      )([x!, m!, v!, g!, b!]),
    ),
  );
  const layer = sameOnBoth('a tf.layers.batchNormalization layer in training mode', [[4, 5, 5, 12]], (x) => {
    const bn = tf.layers.batchNormalization({ axis: -1 });
    const grad = tf.grad((xx: tf.Tensor) => weightedSum(bn.apply(xx, { training: true }) as tf.Tensor))(x!);
    bn.dispose();
    return grad;
  });
  return [...batchStats, ...independent, layer];
}
