/**
 * The bind group cache (src/executor/backends/webgpu/bind-group-cache.ts): a dispatch binding what
 * an earlier one bound makes no new bind group, one binding anything else does, and training steps
 * after the first bind what the step before bound.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { cacheBindGroups } from '../../src/executor/backends/webgpu/bind-group-cache.ts';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels, webgpuBindGroupCache } from '../../src/executor/backends/webgpu/index.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { values } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** A small convnet with a training-mode BatchNorm, a depthwise convolution and a dense head. */
function convnet(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe.skipIf(!env.ok)(`bind group cache on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('gives the same bind group for the same buffers, offsets and sizes, and a new one for any other', async () => {
    await tf.setBackend('webgpu');
    unregisterWebgpuTrainingKernels();
    const backend = webgpuBackendOf(tf.backend());
    const device = (backend as unknown as { device: GPUDevice }).device;
    const cache = cacheBindGroups(backend);
    try {
      const layout = device.createBindGroupLayout({ entries: [0, 1].map((binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' as const } })) });
      const [a, b] = [0, 1].map(() => device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE }));
      const writable = device.createBindGroupLayout({ entries: [0, 1].map((binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: binding === 0 ? 'storage' as const : 'read-only-storage' as const } })) });
      const group = (first: GPUBufferBinding, second: GPUBufferBinding, on = layout) => device.createBindGroup({ layout: on, entries: [{ binding: 0, resource: first }, { binding: 1, resource: second }] });
      const base = group({ buffer: a! }, { buffer: b! });
      expect(group({ buffer: a! }, { buffer: b! })).toBe(base);
      const others = [
        group({ buffer: b! }, { buffer: a! }),
        group({ buffer: a! }, { buffer: a! }),
        group({ buffer: a!, offset: 256 }, { buffer: b! }),
        group({ buffer: a!, size: 512 }, { buffer: b! }),
        group({ buffer: a! }, { buffer: b!, offset: 256, size: 256 }),
        group({ buffer: a! }, { buffer: b! }, writable),
      ];
      for (const other of others) expect(other).not.toBe(base);
      expect(new Set(others).size).toBe(others.length);
      expect(cache.stats).toMatchObject({ hits: 1, misses: 7, size: 7 });
      a!.destroy();
      b!.destroy();
    } finally {
      cache.restore();
      registerWebgpuTrainingKernels();
    }
  });

  it('keeps only the most recently used groups past its capacity', async () => {
    await tf.setBackend('webgpu');
    unregisterWebgpuTrainingKernels();
    const backend = webgpuBackendOf(tf.backend());
    const device = (backend as unknown as { device: GPUDevice }).device;
    const cache = cacheBindGroups(backend, 2);
    try {
      const layout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' as const } }] });
      const buffer = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
      const at = (offset: number) => device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer, offset, size: 256 } }] });
      const first = at(0);
      at(256);
      expect(at(0)).toBe(first); // used again: now the most recent
      at(512); // pushes out 256
      expect(cache.stats.size).toBe(2);
      expect(at(0)).toBe(first);
      const misses = cache.stats.misses;
      at(256);
      expect(cache.stats.misses).toBe(misses + 1);
      buffer.destroy();
    } finally {
      cache.restore();
      registerWebgpuTrainingKernels();
    }
  });

  it('makes no new bind group in a training step once three have run, and the steps train as without it', async () => {
    await tf.setBackend('webgpu');
    const cache = webgpuBindGroupCache();
    expect(cache).toBeDefined();
    const train = async (steps: number) => {
      const m = convnet();
      fuseActivationsForTraining(m);
      m.setWeights(m.getWeights().map((w, i) => tf.tensor(values(w.shape, 40 + i), w.shape).mul(0.5)));
      m.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
      const xs = tf.tensor(values([6, 12, 12, 3], 1), [6, 12, 12, 3]);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4);
      const misses: number[] = [];
      const losses: number[] = [];
      for (let s = 0; s < steps; s++) {
        const before = cache?.stats.misses ?? 0;
        losses.push(Number(await m.trainOnBatch(xs, ys)));
        misses.push((cache?.stats.misses ?? 0) - before);
      }
      tf.dispose([xs, ys]);
      m.dispose();
      return { misses, losses };
    };
    const cached = await train(6);
    // The first steps make the optimizer's state and fill the buffer pool; from the fourth on, every
    // buffer taken is the one taken the step before (84, 34, 2, then 0 here).
    expect(cached.misses[0]).toBeGreaterThan(0);
    expect(cached.misses.slice(3)).toEqual([0, 0, 0]);
    unregisterWebgpuTrainingKernels();
    registerWebgpuTrainingKernels();
    webgpuBindGroupCache()!.restore();
    const plain = await train(6);
    unregisterWebgpuTrainingKernels();
    registerWebgpuTrainingKernels();
    expect(cached.losses).toEqual(plain.losses);
  });

  it('is gone after unregistering', async () => {
    await tf.setBackend('webgpu');
    unregisterWebgpuTrainingKernels();
    expect(webgpuBindGroupCache()).toBeUndefined();
    registerWebgpuTrainingKernels();
    expect(webgpuBindGroupCache()).toBeDefined();
  });
});
