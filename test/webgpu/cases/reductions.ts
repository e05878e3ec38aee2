/**
 * Sum and Mean cases (chunked column and row sums, one to three passes, and the backend's kernel for
 * what they leave) and their gradients (a broadcast instead of `ones`).
 */
import * as tf from '@tensorflow/tfjs';
import { sameOnBoth, weightedSum, type ParityCase } from '../parity.ts';

export interface Reduction { readonly shape: number[]; readonly axes: number[] | null; readonly keepDims?: boolean; readonly plan: 'columns' | 'rows' | 'backend' }

export const REDUCTIONS: Reduction[] = [
  { shape: [4, 9, 9, 70], axes: [0, 1, 2], plan: 'columns' },
  { shape: [4, 9, 9, 70], axes: [0, 1, 2], keepDims: true, plan: 'columns' },
  { shape: [1, 1, 1, 3], axes: [0, 1, 2], plan: 'columns' },
  { shape: [300, 5], axes: [0], plan: 'columns' },
  { shape: [9, 2049], axes: [0], plan: 'columns' },
  // 70000 rows: 1024 chunks, then 16, then one (three passes).
  { shape: [70000, 3], axes: [0], plan: 'columns' },
  { shape: [5, 7, 11, 13], axes: [0, 1], plan: 'columns' },
  { shape: [100000], axes: null, plan: 'rows' },
  { shape: [3, 7, 11, 300], axes: null, keepDims: true, plan: 'rows' },
  { shape: [3, 5000], axes: [1], plan: 'rows' },
  { shape: [2, 3, 4096], axes: [1, 2], plan: 'rows' },
  { shape: [7, 50001], axes: [-1], plan: 'rows' },
  // Left to the backend: middle axes, many short rows, small totals.
  { shape: [2, 5, 7, 3], axes: [1, 2], plan: 'backend' },
  { shape: [2000, 30], axes: [1], plan: 'backend' },
  { shape: [10, 10], axes: null, plan: 'backend' },
];

export const reductionName = (r: Reduction) => `${r.shape.join('x')} over ${r.axes === null ? 'all' : r.axes.join(',')}${r.keepDims ? ' keepDims' : ''} (${r.plan})`;

export function reductionCases(): ParityCase[] {
  const forward = REDUCTIONS.map((r) =>
    sameOnBoth(`sum, mean: ${reductionName(r)}`, [r.shape], (x) => [tf.sum(x!, r.axes ?? undefined, r.keepDims), tf.mean(x!, r.axes ?? undefined, r.keepDims)]),
  );
  const grads = REDUCTIONS.filter((r) => r.shape.reduce((a, b) => a * b, 1) < 200_000).map((r) =>
    sameOnBoth(`gradients: ${reductionName(r)}`, [r.shape], (x) =>
      tf.grads((v: tf.Tensor) => tf.add(weightedSum(tf.sum(v, r.axes ?? undefined, r.keepDims), 5), weightedSum(tf.mean(v, r.axes ?? undefined, r.keepDims), 6)))([x!]),
    ),
  );
  return [...forward, ...grads];
}
