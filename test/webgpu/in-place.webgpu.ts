/**
 * TL's optimizer updates write into the variables' own buffers (src/executor/backends/webgpu/
 * in-place.ts): a step keeps each variable's buffer, yet nothing that held or was reading the old
 * value sees it change.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/**
 * A variable that alone holds its buffer, on the GPU (past the size below which tfjs keeps values on
 * the CPU), and an SGD step of lr 1 on a gradient of ones (each value drops by 1), taken once so
 * that the values are the GPU's and not cached on the CPU: `before` is what it holds now, `after`
 * what it holds after one more step.
 */
function setUp(n = 4096): { v: tf.Variable; step: () => void; before: number[]; after: number[] } {
  const initial = tf.tensor1d(Array.from({ length: n }, (_, i) => i));
  const v = tf.variable(initial);
  initial.dispose();
  const opt = tf.train.sgd(1);
  const step = () => {
    const g = tf.ones([n]);
    opt.applyGradients([{ name: v.name, tensor: g }]);
    g.dispose();
  };
  step();
  const before = Array.from({ length: n }, (_, i) => i - 1);
  return { v, step, before, after: before.map((x) => x - 1) };
}

describe.skipIf(!env.ok)(`optimizer updates in place on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('keeps a variable in its buffer across steps, with the right values', async () => {
    await tf.setBackend('webgpu');
    const { v, step, before, after } = setUp();
    // The read leaves the values cached on the CPU: the step must drop them.
    expect(Array.from(await v.data())).toEqual(before);
    const id = v.dataId;
    const tensors = tf.memory().numTensors;
    step();
    expect(v.dataId).toBe(id);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Array.from(await v.data())).toEqual(after);
    v.dispose();
  });

  it('leaves a clone taken before the step with the old values (early stopping keeps best weights so)', async () => {
    await tf.setBackend('webgpu');
    const { v, step, before, after } = setUp();
    const best = v.clone();
    step();
    expect(Array.from(await best.data())).toEqual(before);
    expect(Array.from(await v.data())).toEqual(after);
    tf.dispose([v, best]);
  });

  it('lets a read on the way land the old values, and the next read fetch the new ones', async () => {
    await tf.setBackend('webgpu');
    const { v, step, before, after } = setUp();
    const pending = v.data();
    step();
    expect(Array.from(await pending)).toEqual(before);
    expect(Array.from(await v.data())).toEqual(after);
    v.dispose();
  });

  it('updates Adam\'s moments in place too, as tfjs computes them', async () => {
    await tf.setBackend('webgpu');
    const n = 2048;
    const start = Array.from({ length: n }, (_, i) => Math.sin(i));
    const grad = Array.from({ length: n }, (_, i) => Math.cos(3 * i));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const v = tf.variable(tf.tensor1d(start));
      const opt = tf.train.adam(0.1);
      for (let s = 0; s < 3; s++) {
        const g = tf.tensor1d(grad);
        opt.applyGradients([{ name: v.name, tensor: g }]);
        g.dispose();
      }
      const state = await Promise.all((await opt.getWeights()).map(async (w) => Array.from(await w.tensor.data())));
      const out = { x: Array.from(await v.data()), state };
      v.dispose();
      opt.dispose();
      return out;
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    await tf.setBackend('webgpu');
    gpu.x.forEach((x, i) => expect(x).toBeCloseTo(cpu.x[i]!, 5));
    expect(gpu.state).toHaveLength(cpu.state.length);
    gpu.state.forEach((s, j) => s.forEach((x, i) => expect(x, `state ${j}[${i}]`).toBeCloseTo(cpu.state[j]![i]!, 5)));
  });
});
