/**
 * BatchNorm folded into convolutions (src/executor/fold-batchnorm.ts) on webgpu: the zoo's
 * networks predict the same folded, through TL's fused forward GEMM (bias and relu or relu6 in its
 * write-out), tfjs's fused depthwise kernel and the residual sums' one-pass ReLU, with fewer dispatches.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { foldBatchNorms } from '../../src/executor/fold-batchnorm.ts';
import { buildNetwork } from '../../src/executor/zoo/networks.ts';
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
      // ResNet50's 16 residual sums apply their ReLU, each in the write-out of its block's last
      // convolution, with the shortcut added there (MobileNetV2's sums have no ReLU after them).
      expect(folded.adds.length).toBe(name === 'resnet50' ? 16 : 0);
      expect(folded.adds.filter((a) => a.chain !== undefined).length).toBe(folded.adds.length);
      const { kernels, result } = await tf.profile(predict);
      tf.dispose(result as tf.Tensor);
      const count = (kernel: string) => kernels.filter((k) => k.name === kernel).length;
      expect(count('TLConv2DAddRelu')).toBe(folded.adds.length);
      expect(count('TLAddRelu')).toBe(0);
      expect(count('FusedConv2D') + count('FusedDepthwiseConv2D') + count('TLConv2DAddRelu')).toBe(folded.chains.length);
    } finally {
      folded.restore();
      tf.dispose(x);
      model.dispose();
    }
  }, 120_000);

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
