/**
 * The uniform cache (src/executor/backends/webgpu/uniform-cache.ts): a repeated dispatch writes no
 * new uniforms, and blocks pushed out of a full cache are not reused while queued work still reads
 * them.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels, webgpuUniformCache } from '../../src/executor/backends/webgpu/index.ts';
import { cacheUniforms } from '../../src/executor/backends/webgpu/uniform-cache.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** Rows `begin .. begin + 3` of a 256 x 8 tensor holding 0 .. 2047 (past the size below which tfjs runs small ops on the CPU), as the backend's Slice computes them (its start is a uniform). */
function slices(x: tf.Tensor2D, begins: readonly number[]): tf.Tensor[] {
  return begins.map((b) => tf.slice(x, [b, 0], [4, 8]));
}

function expectedSlice(begin: number): number[] {
  return Array.from({ length: 32 }, (_, i) => begin * 8 + i);
}

describe.skipIf(!env.ok)(`uniform cache on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  afterAll(() => {
    tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 15);
  });

  it('is installed with TL\'s kernels and reuses a block seen before', async () => {
    await tf.setBackend('webgpu');
    const cache = webgpuUniformCache();
    expect(cache).toBeDefined();
    const x = tf.randomUniform([37, 5]);
    tf.dispose(tf.relu(x));
    const { hits, misses } = cache!.stats;
    const y = tf.relu(x);
    expect(cache!.stats.misses).toBe(misses);
    expect(cache!.stats.hits).toBe(hits + 1);
    expect(Array.from(await y.data())).toEqual(Array.from(await x.data()).map((v) => Math.max(v, 0)));
    tf.dispose([x, y]);
  });

  it('keeps a block pushed out of a full cache until the work queued with it is submitted', async () => {
    await tf.setBackend('webgpu');
    unregisterWebgpuTrainingKernels();
    const small = cacheUniforms(webgpuBackendOf(tf.backend()), 4);
    try {
      // Nothing is submitted until the reads: 40 slices with 40 distinct starts queue 40 blocks
      // through a cache of 4. A pushed-out block handed back to the pool at once would be taken
      // and overwritten by a later slice before the earlier one ran.
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 1000);
      const x = tf.tensor2d(Array.from({ length: 2048 }, (_, i) => i), [256, 8]);
      await x.data();
      const begins = Array.from({ length: 40 }, (_, i) => (i * 37) % 250);
      const ys = slices(x, begins);
      expect(small.stats.size).toBe(4);
      const got = await Promise.all(ys.map((y) => y.data()));
      got.forEach((values, i) => expect(Array.from(values), `slice at ${begins[i]}`).toEqual(expectedSlice(begins[i]!)));
      expect(small.stats.misses).toBeGreaterThanOrEqual(40);
      tf.dispose([x, ...ys]);
    } finally {
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 15);
      small.restore();
      registerWebgpuTrainingKernels();
    }
  });

  it('is gone after unregistering, and results stay right', async () => {
    await tf.setBackend('webgpu');
    unregisterWebgpuTrainingKernels();
    expect(webgpuUniformCache()).toBeUndefined();
    const x = tf.tensor2d(Array.from({ length: 2048 }, (_, i) => i), [256, 8]);
    const ys = slices(x, [3, 9, 3]);
    const got = await Promise.all(ys.map((y) => y.data()));
    expect(Array.from(got[2]!)).toEqual(expectedSlice(3));
    tf.dispose([x, ...ys]);
    registerWebgpuTrainingKernels();
    expect(webgpuUniformCache()).toBeDefined();
  });
});
