/**
 * Sum and Mean (chunked column and row sums, one to three passes, and the backend's kernel for the
 * cases they leave) and their gradients (a broadcast instead of `ones`) against the cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { planReduction } from '../../src/executor/backends/webgpu/reduce-kernels.ts';
import { expectParity, weightedSum } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

interface Case { shape: number[]; axes: number[] | null; keepDims?: boolean; plan: 'columns' | 'rows' | 'backend' }

const CASES: Case[] = [
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

const name = (c: Case) => `${c.shape.join('x')} over ${c.axes === null ? 'all' : c.axes.join(',')}${c.keepDims ? ' keepDims' : ''} (${c.plan})`;

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`Sum and Mean on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(CASES.map((c) => [name(c), c] as const))('%s', async (_, c) => {
    const axes = c.axes ?? c.shape.map((_d, i) => i);
    const plan = planReduction(c.shape, axes.map((a) => (a < 0 ? a + c.shape.length : a)));
    expect(plan?.kind ?? 'backend').toBe(c.plan);
    await expectParity([c.shape], (x) => [tf.sum(x!, c.axes ?? undefined, c.keepDims), tf.mean(x!, c.axes ?? undefined, c.keepDims)]);
  });

  it.each(CASES.filter((c) => c.shape.reduce((a, b) => a * b, 1) < 200_000).map((c) => [name(c), c] as const))('gradients: %s', async (_, c) => {
    await expectParity([c.shape], (x) =>
      tf.grads((v: tf.Tensor) => tf.add(weightedSum(tf.sum(v, c.axes ?? undefined, c.keepDims), 5), weightedSum(tf.mean(v, c.axes ?? undefined, c.keepDims), 6)))([x!]),
    );
  });

  it('leaves int32 sums to the backend', async () => {
    await tf.setBackend('webgpu');
    const x = tf.tensor([[1, 2, 3], [4, 5, 6]], [2, 3], 'int32');
    const s = tf.sum(x, 0);
    expect(s.dtype).toBe('int32');
    expect(Array.from(await s.data())).toEqual([5, 7, 9]);
    tf.dispose([x, s]);
  });
});
