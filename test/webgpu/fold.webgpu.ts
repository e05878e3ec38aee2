/**
 * BatchNorm folded into convolutions (src/executor/fold-batchnorm.ts) on webgpu: the zoo's
 * networks predict the same folded, through TL's fused forward GEMM (bias and relu or relu6 in its
 * write-out), tfjs's fused depthwise kernel and the residual sums' one-pass ReLU, with fewer dispatches.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { foldBatchNorms } from '../../src/executor/fold-batchnorm.ts';
import { buildNetwork } from '../../src/executor/zoo/networks.ts';
import { trainPadded } from '../executor/fixtures/padded-convnet.ts';
import { relativeError, values } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** Bind groups made while `f` runs: one per dispatch. */
async function dispatches(f: () => tf.Tensor): Promise<{ values: Float32Array; dispatches: number }> {
  const device = (tf.backend() as unknown as { device: { createBindGroup(...args: unknown[]): unknown } }).device;
  const own = device.createBindGroup;
  let count = 0;
  device.createBindGroup = function (...args: unknown[]) {
    count++;
    return own.apply(this, args);
  };
  try {
    const y = f();
    const out = (await y.data()) as Float32Array;
    y.dispose();
    return { values: out, dispatches: count };
  } finally {
    device.createBindGroup = own;
  }
}

describe.skipIf(!env.ok)(`BatchNorm folded for inference on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(['resnet50', 'mobilenetv2'])('%s predicts the same with about half the dispatches', async (name) => {
    await tf.setBackend('webgpu');
    const model = await buildNetwork(name, 32);
    // Statistics far from the defaults, so the fold has something to get wrong.
    for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      layer.setWeights(layer.getWeights().map((w, i) => tf.add(tf.mul(tf.tensor(values(w.shape, 50 + i), w.shape), 0.4), i % 2 === 1 || i === 0 ? 1 : 0)));
    }
    const x = tf.tensor(values([2, 32, 32, 3], 7), [2, 32, 32, 3]);
    const predict = () => model.predict(x) as tf.Tensor;
    const plain = await dispatches(predict);
    const folded = foldBatchNorms(model);
    try {
      await dispatches(predict);
      const fused = await dispatches(predict);
      expect(relativeError(fused.values, plain.values)).toBeLessThan(1e-4);
      expect(fused.dispatches).toBeLessThan(plain.dispatches * 0.6);
      // Each residual sum in the write-out of its block's last convolution, with the shortcut
      // added there: ResNet50's 16 with the ReLU after them, MobileNetV2's 10 (no ReLU after them).
      expect(folded.adds.length).toBe(name === 'resnet50' ? 16 : 10);
      expect(folded.adds.filter((a) => a.chain !== undefined).length).toBe(folded.adds.length);
      expect(folded.adds.filter((a) => a.activation !== null).length).toBe(name === 'resnet50' ? 16 : 0);
      const { kernels, result } = await tf.profile(predict);
      tf.dispose(result as tf.Tensor);
      const count = (kernel: string) => kernels.filter((k) => k.name === kernel).length;
      expect(count('TLConv2DAdd')).toBe(folded.adds.length);
      expect(count('TLAddRelu') + count('Add')).toBe(0);
      expect(count('FusedConv2D') + count('FusedDepthwiseConv2D') + count('TLConv2DAdd')).toBe(folded.chains.length);
    } finally {
      folded.restore();
      tf.dispose(x);
      model.dispose();
    }
  }, 120_000);

  it('runs a convolution left to an Add as it would have run where the other input only broadcasts to it, and leaks nothing', async () => {
    await tf.setBackend('webgpu');
    const input = tf.input({ shape: [6, 6, 4] });
    const uniform = (minval: number, maxval: number, seed: number) => tf.initializers.randomUniform({ minval, maxval, seed });
    const bn = (t: tf.SymbolicTensor, seed: number) =>
      tf.layers.batchNormalization({ gammaInitializer: uniform(0.5, 2, seed), betaInitializer: uniform(-1, 1, seed + 10), movingMeanInitializer: uniform(-1, 1, seed + 20) }).apply(t) as tf.SymbolicTensor;
    const conv = (t: tf.SymbolicTensor, seed: number) => tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(t) as tf.SymbolicTensor;
    // A per-image, per-channel term [1, 1, 4] added to a chain's output [6, 6, 4] (broadcast), then
    // a same-shape residual sum whose ReLU rides along.
    const pooled = tf.layers.reshape({ targetShape: [1, 1, 4] }).apply(tf.layers.globalAveragePooling2d({}).apply(input)) as tf.SymbolicTensor;
    const broadcast = tf.layers.add().apply([pooled, bn(conv(input, 1), 2)]) as tf.SymbolicTensor;
    const summed = tf.layers.reLU().apply(tf.layers.add().apply([broadcast, bn(conv(broadcast, 3), 4)])) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: summed });
    const x = tf.tensor(values([2, 6, 6, 4], 9), [2, 6, 6, 4]);
    const plain = await (model.predict(x) as tf.Tensor).data();
    const folded = foldBatchNorms(model);
    try {
      expect(folded.adds.map((a) => [a.chain !== undefined, a.activation !== null])).toEqual([[true, false], [true, true]]);
      await (model.predict(x) as tf.Tensor).data();
      const tensors = tf.memory().numTensors;
      const { kernels, result } = await tf.profile(() => model.predict(x) as tf.Tensor);
      expect(relativeError((await (result as tf.Tensor).data()) as Float32Array, plain as Float32Array)).toBeLessThan(1e-5);
      tf.dispose(result as tf.Tensor);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(kernels.filter((k) => k.name === 'TLConv2DAdd').length).toBe(1);
    } finally {
      folded.restore();
      tf.dispose(x);
      model.dispose();
    }
  });

  it('trains with each zero padding read by the convolution after it as it trains without: no pad pass, no slice', async () => {
    await tf.setBackend('webgpu');
    const plain = await trainPadded(false);
    const folded = await trainPadded(true);
    expect(folded.folded).toBe(2);
    folded.losses.forEach((l, i) => expect(Math.abs(l - plain.losses[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(plain.losses[i]!))));
    folded.weights.forEach((w, i) => expect(relativeError(w, plain.weights[i]!)).toBeLessThan(1e-5));
    expect(plain.kernels.filter((k) => k === 'PadV2' || k === 'Slice').length).toBe(3);
    expect(folded.kernels.filter((k) => k === 'PadV2' || k === 'Slice')).toEqual([]);
  });

  it('folds again after a training step, though the step writes the weights in their own buffers', async () => {
    await tf.setBackend('webgpu');
    const input = tf.input({ shape: [6, 6, 3] });
    let y = tf.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false }).apply(input) as tf.SymbolicTensor;
    y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
    y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, activation: 'softmax' }).apply(y) as tf.SymbolicTensor });
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
    const x = tf.tensor(values([4, 6, 6, 3], 11), [4, 6, 6, 3]);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 1, 0], 'int32'), 2);
    await model.trainOnBatch(x, ys); // the variables now live on the GPU, each alone in its buffer
    const folded = foldBatchNorms(model);
    try {
      const before = await (model.predict(x) as tf.Tensor).data();
      const kernel = model.layers[1]!.getWeights()[0]!;
      const id = kernel.dataId;
      await model.trainOnBatch(x, ys);
      expect(model.layers[1]!.getWeights()[0]!.dataId).toBe(id); // written in place
      const after = await (model.predict(x) as tf.Tensor).data();
      folded.restore();
      const plain = await (model.predict(x) as tf.Tensor).data();
      expect(relativeError(after as Float32Array, plain as Float32Array)).toBeLessThan(1e-5);
      expect(relativeError(after as Float32Array, before as Float32Array)).toBeGreaterThan(1e-4);
    } finally {
      folded.restore();
      tf.dispose([x, ys]);
      model.dispose();
    }
  });
});
