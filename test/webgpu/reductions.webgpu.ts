/** Sum and Mean and their gradients against the cpu backend, and which path each shape takes; cases in cases/reductions.ts. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { planReduction } from '../../src/executor/backends/webgpu/reduce-kernels.ts';
import { REDUCTIONS, reductionCases, reductionName } from './cases/reductions.ts';
import { RELATIVE_TOLERANCE, worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

describe('the reduction plan', () => {
  it.each(REDUCTIONS.map((r) => [reductionName(r), r] as const))('%s', (_, r) => {
    const axes = (r.axes ?? r.shape.map((_d, i) => i)).map((a) => (a < 0 ? a + r.shape.length : a));
    expect(planReduction(r.shape, axes)?.kind ?? 'backend').toBe(r.plan);
  });
});

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`Sum and Mean on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(reductionCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
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
