/** Gradients of relu, relu6 and clipByValue against the cpu backend; cases in cases/activations.ts. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { activationCases } from './cases/activations.ts';
import { RELATIVE_TOLERANCE, worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`activation gradients on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(activationCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });

  // NaN, the boundaries and values either side, in 8 values (four at a time) and 7 (one at a time).
  const X = [Number.NaN, 0, 6, -1, 3, 6.5, -0, Number.NaN];
  const ACTIVATIONS: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['relu', (x) => tf.relu(x)],
    ['relu6', (x) => tf.relu6(x)],
    ['clipByValue(0, 6)', (x) => tf.clipByValue(x, 0, 6)],
  ];
  it.each(ACTIVATIONS.flatMap(([name, f]) => [8, 7].map((n) => [`${name}, ${n} values`, f, n] as const)))('%s: the gradient at NaN and the boundaries is tfjs\'s exactly', async (_, f, n) => {
    const gradient = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor1d(X.slice(0, n));
      const dy = tf.tensor1d(Array.from({ length: n }, (_v, i) => i + 1));
      const g = tf.grad(f)(x, dy);
      const out = Array.from(await g.data());
      tf.dispose([x, dy, g]);
      return out;
    };
    const cpu = await gradient('cpu');
    const gpu = await gradient('webgpu');
    expect(gpu).toEqual(cpu);
  });
});
