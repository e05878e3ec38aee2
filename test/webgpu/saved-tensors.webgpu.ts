/** Tensors kept for gradients without an Identity kernel each (saved-tensors.ts): same gradients, no clones, nothing left over. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** A small convnet's gradients, with the kernels the step ran and the tensors it left behind. */
async function step(): Promise<{ grads: Float32Array[]; kernels: string[]; leftOver: number }> {
  const input = tf.input({ shape: [6, 6, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({}).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }).apply(x) as tf.SymbolicTensor });
  const xs = tf.tensor4d(Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.sin(i)), [2, 6, 6, 3]);
  const before = tf.memory().numTensors;
  let grads: tf.NamedTensorMap = {};
  const profile = await tf.profile(() => {
    const r = tf.variableGrads(() => tf.sum(tf.square(model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar, model.trainableWeights.map((w) => w.read() as tf.Variable));
    r.value.dispose();
    grads = r.grads;
  });
  const values = await Promise.all(Object.values(grads).map(async (g) => (await g.data()) as Float32Array));
  tf.dispose(Object.values(grads));
  const leftOver = tf.memory().numTensors - before;
  tf.dispose(xs);
  model.dispose();
  return { grads: values, kernels: profile.kernels.map((k) => k.name), leftOver };
}

describe.skipIf(!env.ok)('tensors kept for gradients on webgpu', () => {
  it('are kept without an Identity kernel each, with the same gradients and nothing left over', async () => {
    await tf.setBackend('webgpu');
    type Saving = { clone?: unknown };
    const engine = tf.engine() as unknown as Saving;
    const clones = (Object.getPrototypeOf(engine) as Saving).clone;
    const direct = await step();
    const installed = engine.clone;
    expect(installed).not.toBe(clones);
    // The engine's own clones, TL's kernels otherwise the same.
    delete engine.clone;
    let cloned: Awaited<ReturnType<typeof step>>;
    try {
      cloned = await step();
    } finally {
      engine.clone = installed;
    }
    const identities = (r: { kernels: string[] }) => r.kernels.filter((k) => k === 'Identity').length;
    expect(identities(cloned)).toBeGreaterThan(identities(direct) + 5);
    expect(cloned.grads).toEqual(direct.grads);
    expect([direct.leftOver, cloned.leftOver]).toEqual([0, 0]);
    // Unregistering TL's kernels puts the engine's own method back.
    unregisterWebgpuTrainingKernels();
    try {
      expect(engine.clone).toBe(clones);
    } finally {
      registerWebgpuTrainingKernels();
    }
  });

  it('keeps each saved tensor alive until its gradient has used it, and frees it after', async () => {
    await tf.setBackend('webgpu');
    const original = tf.getGradient('Square') as tf.GradConfig;
    const seen: tf.Tensor[] = [];
    tf.registerGradient({
      ...original,
      gradFunc: (dy, saved, attrs) => {
        seen.push(saved[0]!);
        expect(saved[0]!.isDisposed).toBe(false);
        return original.gradFunc(dy, saved, attrs);
      },
    });
    try {
      const x = tf.variable(tf.tensor1d([1, 2, 3, 4]));
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.mul(x, 3))) as tf.Scalar, [x]);
      expect(Array.from(await grads[x.name]!.data())).toEqual([18, 36, 54, 72]);
      expect(seen.length).toBe(1);
      expect(seen[0]!.isDisposed).toBe(true);
      tf.dispose([value, grads[x.name]!, x]);
    } finally {
      tf.registerGradient(original);
    }
  });

  it('leaves other backends to the engine\'s clones', async () => {
    await tf.setBackend('cpu');
    try {
      const x = tf.tensor1d([1, 2, 3]);
      const profile = await tf.profile(() => tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(tf.square(v)))(x)));
      expect(profile.kernels.filter((k) => k.name === 'Identity').length).toBeGreaterThan(0);
      x.dispose();
    } finally {
      await tf.setBackend('webgpu');
    }
  });
});
