/**
 * The fused training-mode BatchNorm gradient against the cpu backend: through moments + batchNorm
 * as tfjs-layers composes it, with independent mean and variance (every one of the five input
 * gradients), and through a tf.layers.batchNormalization layer in training mode. (Without a scale
 * tfjs 4.22 fails before any gradient runs, on every backend: it saves the missing scale for backprop.)
 */
import * as tf from '@tensorflow/tfjs';
import { describe, it } from 'vitest';
import { expectParity, weightedSum } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

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

/** Batch statistics over every axis but the last, as tfjs-layers' BatchNormalization does in training. */
function trainingBatchNorm(x: tf.Tensor, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D | undefined, gamma as tf.Tensor1D | undefined, EPS);
}

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`BatchNorm gradient on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(SHAPES.map((s) => [s.join('x'), s] as const))('batch statistics, grads of x, gamma, beta: %s', async (_, shape) => {
    const c = [shape[shape.length - 1] ?? 1];
    await expectParity([shape, c, c], (x, g, b) =>
      tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => weightedSum(trainingBatchNorm(xx, tf.add(gg, 1.5), bb)))([x!, g!, b!]),
    );
  });

  it.each(SHAPES.slice(0, 5).map((s) => [s.join('x'), s] as const))('independent statistics, all five gradients: %s', async (_, shape) => {
    const c = [shape[shape.length - 1] ?? 1];
    await expectParity([shape, c, c, c, c], (x, m, v, g, b) =>
      tf.grads((xx: tf.Tensor, mm: tf.Tensor, vv: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        weightedSum(tf.batchNorm(xx, mm as tf.Tensor1D, tf.add(tf.abs(vv), 0.5) as tf.Tensor1D, bb as tf.Tensor1D, gg as tf.Tensor1D, EPS)),
      )([x!, m!, v!, g!, b!]),
    );
  });

  it('a tf.layers.batchNormalization layer in training mode', async () => {
    await expectParity([[4, 5, 5, 12]], (x) => {
      const layer = tf.layers.batchNormalization({ axis: -1 });
      const grad = tf.grad((xx: tf.Tensor) => weightedSum(layer.apply(xx, { training: true }) as tf.Tensor))(x!);
      layer.dispose();
      return grad;
    });
  });
});
