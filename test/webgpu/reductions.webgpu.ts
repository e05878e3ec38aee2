/** Sum and Mean and their gradients against the cpu backend, and which path each shape takes; cases in cases/reductions.ts. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { planReduction } from '../../src/executor/backends/webgpu/reduce-kernels.ts';
import { BROADCAST_GRAD } from '../../src/executor/backends/webgpu/reduce-grads.ts';
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

  it('broadcasts Mean and Sum gradients in one pass of its own, never through Tile', async () => {
    await tf.setBackend('webgpu');
    const x = tf.randomNormal([2, 5, 5, 8]);
    // dy made from JavaScript numbers: small, so its values live on the CPU, and tfjs's Tile would
    // build the whole broadcast in JavaScript (reduce-grads.ts says what that cost on the GPU).
    const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]);
    let dMean: tf.Tensor = dy;
    let dSum: tf.Tensor = dy;
    const profile = await tf.profile(() => {
      dMean = tf.grad((v: tf.Tensor) => tf.mean(v, [0, 1, 2]))(x, dy);
      dSum = tf.grad((v: tf.Tensor) => tf.sum(v, [0, 1, 2]))(x, dy);
      return [dMean, dSum];
    });
    expect(profile.kernelNames).not.toContain('Tile');
    expect(profile.kernelNames).toContain(BROADCAST_GRAD);
    const mean = await dMean.data();
    const sum = await dSum.data();
    for (let i = 0; i < sum.length; i++) {
      expect(sum[i]).toBe((i % 8) + 1);
      expect(mean[i]).toBeCloseTo(((i % 8) + 1) / 50, 6);
    }
    tf.dispose([x, dy, dMean, dSum]);
  });
});
