/**
 * A residual block's sum and the ReLU after it as one op on webgpu (src/executor/backends/webgpu/
 * residual.ts): the same values and gradients as tfjs's Add and ReLU on cpu, at the ReLU's boundary
 * too, a residual network trained three steps as on cpu, and the kernels it runs.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { setActivationAfter } from '../../src/executor/backends/fused-activation.ts';
import { ADD_RELU } from '../../src/executor/backends/fused-activation.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { relativeError, RELATIVE_TOLERANCE, values } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** conv, BatchNorm, ReLU, conv, BatchNorm, the sum with the block's input, ReLU; then a pooled dense head. */
function residualNet(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 4] });
  let y = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU().apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
  let x = tf.layers.add({}).apply([input, y]) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe.skipIf(!env.ok)(`residual sums with their ReLU on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('gives relu(a + b) and its gradients as cpu does, where the sum is 0 too', async () => {
    const n = 3 * 17 * 5;
    // Multiples of 0.5, and b = -a at every third value: sums of exactly 0, where no gradient passes.
    const a = Array.from({ length: n }, (_, i) => ((i * 7) % 9) / 2 - 2);
    const b = a.map((v, i) => (i % 3 === 0 ? -v : ((i * 5) % 7) / 2 - 1.5));
    const w = Array.from({ length: n }, (_, i) => 1 + (i % 4));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const add = tf.layers.add({});
      const relu = tf.layers.reLU();
      setActivationAfter(add, 'relu');
      const [ta, tb, tw] = [a, b, w].map((v) => tf.tensor(v, [3, 17, 5]));
      let y: tf.Tensor | undefined;
      const grads = tf.grads((x: tf.Tensor, z: tf.Tensor) => {
        y = tf.keep(relu.apply(add.apply([x, z], { training: true }) as tf.Tensor) as tf.Tensor);
        return tf.sum(tf.mul(y, tw!));
      })([ta!, tb!]);
      const out = { y: Array.from(await y!.data()), da: Array.from(await grads[0]!.data()), db: Array.from(await grads[1]!.data()) };
      setActivationAfter(add, undefined);
      tf.dispose([ta!, tb!, tw!, y!, ...grads]);
      return out;
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    expect(gpu).toEqual(cpu);
    expect(cpu.da.filter((v, i) => i % 3 === 0 && v === 0).length).toBe(Math.ceil(n / 3));
  });

  it('trains a residual network three steps as cpu does, with one kernel for each sum and its ReLU', async () => {
    const train = async (backend: string) => {
      await tf.setBackend(backend);
      const m = residualNet();
      const fused = fuseActivationsForTraining(m);
      expect(fused.adds).toHaveLength(1);
      m.setWeights(m.getWeights().map((t, i) => tf.tensor(values(t.shape, 70 + i), t.shape).mul(0.5)));
      m.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
      const xs = tf.tensor(values([5, 8, 8, 4], 3), [5, 8, 8, 4]);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 1, 0], 'int32'), 3);
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) losses.push(Number(await m.trainOnBatch(xs, ys)));
      const { kernels } = await tf.profile(async () => void (await m.trainOnBatch(xs, ys)));
      const weights = await Promise.all(m.getWeights().map(async (t) => (await t.data()) as Float32Array));
      fused.restore();
      tf.dispose([xs, ys]);
      m.dispose();
      return { losses, weights, kernels: kernels.map((k) => k.name) };
    };
    const cpu = await train('cpu');
    const gpu = await train('webgpu');
    gpu.losses.forEach((l, i) => expect(Math.abs(l - cpu.losses[i]!), `loss ${i}`).toBeLessThan(RELATIVE_TOLERANCE * Math.max(1, Math.abs(l))));
    gpu.weights.forEach((w, i) => expect(relativeError(w, cpu.weights[i]!), `weight ${i}`).toBeLessThan(RELATIVE_TOLERANCE));
    expect(gpu.kernels.filter((k) => k === ADD_RELU)).toHaveLength(1);
    expect(gpu.kernels).not.toContain('Relu');
    expect(cpu.kernels.filter((k) => k === 'Relu')).toHaveLength(2);
  });
});
