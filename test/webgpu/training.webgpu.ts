/**
 * A training step of a small convnet with every kernel and gradient of TL's set in it (strided
 * and 1x1 convolutions, depthwise, training-mode BatchNorm, global average pooling) on webgpu
 * against the same step on cpu from the same weights, its BatchNorms applying the ReLUs after
 * them as tl run marks them to; the tensor count after each step; and unregistering, which must
 * restore tfjs's own kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BN_FORWARD, BN_TRAINING_GRAD } from '../../src/executor/backends/batchnorm-training.ts';
import { MASK_GRAD } from '../../src/executor/backends/webgpu/activation-grads.ts';
import { setWeightDecay } from '../../src/executor/backends/fused-optimizers.ts';
import { OPTIMIZER_UPDATE } from '../../src/executor/backends/webgpu/optimizers.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels, WEBGPU_TRAINING_KERNELS, webgpuTrainingKernelsRegistered } from '../../src/executor/backends/webgpu/index.ts';
import { relativeError, RELATIVE_TOLERANCE, sameOnBoth, values, worstError } from './parity.ts';
import { smallConvnet } from './convnet.ts';
import { webgpuEnv } from './webgpu-env.ts';

/** `optimizer` with TL's weight decay (large, so that it shows beside the tolerance). */
const decaying = (optimizer: tf.Optimizer, decay: number) => {
  setWeightDecay(optimizer, decay);
  return optimizer;
};

const OPTIMIZERS = {
  sgd: () => tf.train.sgd(0.1),
  adam: () => tf.train.adam(0.01),
  momentum: () => tf.train.momentum(0.05, 0.9),
  rmsprop: () => tf.train.rmsprop(0.01, 0.9, 0.5, 1e-7),
  'sgd with weight decay': () => decaying(tf.train.sgd(0.1), 0.5),
  'adam with weight decay': () => decaying(tf.train.adam(0.01), 0.5),
  'momentum with weight decay': () => decaying(tf.train.momentum(0.05, 0.9), 0.5),
  'rmsprop with weight decay': () => decaying(tf.train.rmsprop(0.01, 0.9, 0.5, 1e-7), 0.5),
} as const;

/**
 * Weights after `steps` steps of `optimizer` from fixed weights and data, with the loss, the
 * tensor counts and the optimizer's own state (Adam's moments and accumulated betas).
 */
async function train(backend: 'webgpu' | 'cpu', steps: number, optimizer: keyof typeof OPTIMIZERS = 'sgd'): Promise<{ weights: Float32Array[]; losses: number[]; counts: number[]; state: Float32Array[] }> {
  await tf.setBackend(backend);
  const m = smallConvnet();
  // As tl run trains: each BatchNorm applies the ReLU after it (on webgpu; cpu runs both layers).
  fuseActivationsForTraining(m);
  m.setWeights(m.getWeights().map((w, i) => tf.tensor(values(w.shape, 500 + i), w.shape).mul(0.5)));
  const opt = OPTIMIZERS[optimizer]();
  m.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
  const xs = tf.tensor(values([6, 12, 12, 3], 1), [6, 12, 12, 3]);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4);
  const losses: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < steps; i++) {
    losses.push(Number(await m.trainOnBatch(xs, ys)));
    counts.push(tf.memory().numTensors);
  }
  const weights = await Promise.all(m.getWeights().map(async (w) => (await w.data()) as Float32Array));
  const state = await Promise.all((await opt.getWeights()).map(async (w) => (await w.tensor.data()) as Float32Array));
  tf.dispose([xs, ys]);
  m.dispose();
  opt.dispose();
  return { weights, losses, counts, state };
}

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`training on webgpu with TL's kernels (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('registers every kernel', () => {
    expect(webgpuTrainingKernelsRegistered()).toBe(true);
    for (const name of Object.keys(WEBGPU_TRAINING_KERNELS)) expect(tf.getKernel(name, 'webgpu')).toBeDefined();
  });

  it.each(Object.keys(OPTIMIZERS) as (keyof typeof OPTIMIZERS)[])('three %s steps match the cpu backend (weights and optimizer state), and leave the tensor count flat', async (optimizer) => {
    const gpu = await train('webgpu', 3, optimizer);
    const cpu = await train('cpu', 3, optimizer);
    await tf.setBackend('webgpu');
    gpu.losses.forEach((l, i) => expect(Math.abs(l - (cpu.losses[i] ?? NaN))).toBeLessThan(RELATIVE_TOLERANCE * Math.max(1, Math.abs(l))));
    gpu.weights.forEach((w, i) => expect(relativeError(w, cpu.weights[i] ?? new Float32Array()), `weight ${i}`).toBeLessThan(RELATIVE_TOLERANCE));
    expect(gpu.state).toHaveLength(cpu.state.length);
    gpu.state.forEach((w, i) => expect(relativeError(w, cpu.state[i] ?? new Float32Array()), `optimizer state ${i}`).toBeLessThan(RELATIVE_TOLERANCE));
    expect(gpu.counts[2]).toBe(gpu.counts[1]);
    if (optimizer.endsWith('with weight decay')) {
      // The decay moved the weights (not the biases) away from where the update alone takes them.
      const plain = await train('webgpu', 3, optimizer.split(' ')[0] as keyof typeof OPTIMIZERS);
      const moved = gpu.weights.map((w, i) => relativeError(w, plain.weights[i]!) > RELATIVE_TOLERANCE);
      expect(moved.some(Boolean)).toBe(true);
    }
  });

  it('updates with TL\'s kernel on webgpu, with tfjs\'s ops elsewhere', async () => {
    const kernelsOf = async (optimizer: keyof typeof OPTIMIZERS) => {
      const v = tf.variable(tf.ones([5]));
      const opt = OPTIMIZERS[optimizer]();
      const { kernels } = await tf.profile(() => opt.applyGradients([{ name: v.name, tensor: tf.fill([5], 0.5) }]) as unknown as tf.Tensor[]);
      tf.dispose(v);
      opt.dispose();
      return kernels.map((k) => k.name);
    };
    for (const name of Object.keys(OPTIMIZERS) as (keyof typeof OPTIMIZERS)[]) expect(await kernelsOf(name), name).toContain(OPTIMIZER_UPDATE);
    unregisterWebgpuTrainingKernels();
    expect(await kernelsOf('adam')).not.toContain(OPTIMIZER_UPDATE);
    registerWebgpuTrainingKernels();
  });

  it('binds as many storage buffers as the adapter allows, and updates variables in packs', async () => {
    const gpu = globalThis.navigator as unknown as { gpu: { requestAdapter(): Promise<{ limits: GPUSupportedLimits }> } };
    const adapter = await gpu.gpu.requestAdapter();
    const limit = (tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBuffersPerShaderStage;
    expect(limit).toBe(adapter.limits.maxStorageBuffersPerShaderStage);
    // SGD binds g and x (written in place) per variable, and -lr once.
    const pack = Math.max(1, Math.min(8, Math.floor((limit - 1) / 2)));
    const vs = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5].map((n) => tf.variable(tf.ones([n, 2])));
    const opt = tf.train.sgd(0.5);
    const { kernels } = await tf.profile(() => opt.applyGradients(vs.map((v) => ({ name: v.name, tensor: tf.fill(v.shape, 2) }))) as unknown as tf.Tensor[]);
    expect(kernels.filter((k) => k.name === OPTIMIZER_UPDATE)).toHaveLength(Math.ceil(vs.length / pack));
    for (const v of vs) expect(Array.from(await v.data())).toEqual(new Array(v.size).fill(0));
    tf.dispose(vs);
    opt.dispose();
  });

  it('runs a training-mode BatchNorm layer as TL\'s op, and leaves inference and tfjs\'s kernels to tfjs', async () => {
    const kernels = async (training: boolean, register: boolean) => {
      if (!register) unregisterWebgpuTrainingKernels();
      const bn = tf.layers.batchNormalization({});
      const x = tf.tensor(values([2, 3, 3, 8], 3), [2, 3, 3, 8]);
      const { kernels } = await tf.profile(() => tf.grad((xx: tf.Tensor) => tf.sum(bn.apply(xx, { training }) as tf.Tensor))(x));
      tf.dispose(x);
      bn.dispose();
      registerWebgpuTrainingKernels();
      return kernels.map((k) => k.name);
    };
    const fused = await kernels(true, true);
    expect(fused).toContain(BN_FORWARD);
    expect(fused).toContain(BN_TRAINING_GRAD);
    expect(fused).not.toContain('Square');
    expect(await kernels(false, true)).not.toContain(BN_FORWARD);
    expect(await kernels(true, false)).not.toContain(BN_FORWARD);
  });

  it('fuses the ReLUs after the BatchNorms it is told to, and only while TL\'s kernels are registered', async () => {
    const kernels = async (fuse: boolean, register = true) => {
      if (!register) unregisterWebgpuTrainingKernels();
      const m = smallConvnet();
      const fused = fuse ? fuseActivationsForTraining(m) : undefined;
      const x = tf.tensor(values([2, 12, 12, 3], 3), [2, 12, 12, 3]);
      const { kernels } = await tf.profile(() => tf.grad((xx: tf.Tensor) => tf.sum(m.apply(xx, { training: true }) as tf.Tensor))(x));
      fused?.restore();
      tf.dispose(x);
      m.dispose();
      registerWebgpuTrainingKernels();
      const names = kernels.map((k) => k.name);
      return { bn: names.filter((n) => n === BN_FORWARD).length, relu: names.filter((n) => n === 'Relu').length, masks: names.filter((n) => n === MASK_GRAD).length };
    };
    expect(await kernels(false)).toEqual({ bn: 2, relu: 2, masks: 2 });
    expect(await kernels(true)).toEqual({ bn: 2, relu: 0, masks: 0 });
    expect((await kernels(true, false)).relu).toBe(2);
  });

  it('unregisters back to tfjs kernels and registers again', async () => {
    const grad = (x: tf.Tensor, w: tf.Tensor) => tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same'))))([x, w]);
    const mine = tf.getKernel('Conv2DBackpropFilter', 'webgpu')?.kernelFunc;
    unregisterWebgpuTrainingKernels();
    expect(webgpuTrainingKernelsRegistered()).toBe(false);
    expect(tf.getKernel('Conv2DBackpropFilter', 'webgpu')?.kernelFunc).not.toBe(mine);
    const check = sameOnBoth('conv2d gradients', [[2, 6, 6, 3], [3, 3, 3, 4]], grad);
    expect(await worstError(check)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
    registerWebgpuTrainingKernels();
    expect(webgpuTrainingKernelsRegistered()).toBe(true);
    expect(await worstError(check)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });
});
