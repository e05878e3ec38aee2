/**
 * Gradients of relu, relu6 and clipByValue (one pass each on webgpu), on inputs that are multiples
 * of 0.5 in [-8, 8), so every boundary (0, 6, the clip bounds) is hit exactly, where tfjs's own
 * gradients differ: relu and relu6 pass nothing at x = 0, clipByValue passes both of its bounds.
 */
import * as tf from '@tensorflow/tfjs';
import { sameOnBoth, weightedSum, type ParityCase } from '../parity.ts';

const SHAPES: number[][] = [[7], [3, 5, 5, 8], [2, 33, 17], [1, 1], [6, 40, 40, 9],
  // 4.26M values: 66,560 workgroups of 64, past one dispatch dimension (the backend folds it).
  [5, 128, 128, 52]];

/** Multiples of 0.5 in [-8, 8) from uniform values in [-1, 1). */
const grid = (x: tf.Tensor) => tf.div(tf.round(tf.mul(x, 16)), 2);

const ACTIVATIONS: { name: string; f: (x: tf.Tensor) => tf.Tensor }[] = [
  { name: 'relu', f: (x) => tf.relu(x) },
  { name: 'relu6', f: (x) => tf.relu6(x) },
  { name: 'clipByValue(-2.5, 3)', f: (x) => tf.clipByValue(x, -2.5, 3) },
  { name: 'clipByValue(0, 6), as tf.layers.reLU({ maxValue: 6 })', f: (x) => tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.Tensor },
];

export function activationCases(): ParityCase[] {
  return ACTIVATIONS.flatMap(({ name, f }) =>
    SHAPES.map((s, i) =>
      sameOnBoth(`${name} gradient: ${s.join('x')}`, [s], (x) => tf.grad((xx: tf.Tensor) => weightedSum(f(xx)))(grid(x!)), 40 + i),
    ),
  );
}
