/**
 * tf.layers' Dropout in training on webgpu with its mask drawn on the GPU (dropout.ts): the share
 * of values dropped, the scale of those kept, a new mask at each call from a counter the GPU
 * advances, masks repeated from the same seed, and inference left alone.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { DROPOUT_MASK } from '../../src/executor/backends/webgpu/dropout.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** The outputs of `calls` training calls of a fresh Dropout layer on ones of `shape`. */
async function masks(rate: number, seed: number, calls: number, shape = [64, 300]): Promise<Float32Array[]> {
  const layer = tf.layers.dropout({ rate, seed });
  const ones = tf.ones(shape);
  const out: Float32Array[] = [];
  for (let i = 0; i < calls; i++) {
    const y = layer.apply(ones, { training: true }) as tf.Tensor;
    out.push((await y.data()) as Float32Array);
    y.dispose();
  }
  ones.dispose();
  return out;
}

describe.skipIf(!env.ok)(`dropout masks drawn on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each([0.1, 0.5, 0.8])('drops a share %f of the values and scales the rest by 1 / (1 - rate)', async (rate) => {
    await tf.setBackend('webgpu');
    const [y] = await masks(rate, 3, 1);
    const dropped = y!.filter((v) => v === 0).length / y!.length;
    // 19,200 values: the share is within 4 standard deviations of the rate.
    expect(Math.abs(dropped - rate)).toBeLessThan(4 * Math.sqrt((rate * (1 - rate)) / y!.length));
    const kept = new Set(y!.filter((v) => v !== 0));
    expect([...kept]).toEqual([Math.fround(1 / (1 - rate))]);
  });

  it('draws a new mask at every call, and the same masks again from the same seed', async () => {
    await tf.setBackend('webgpu');
    const a = await masks(0.5, 11, 3);
    const b = await masks(0.5, 11, 3);
    const c = await masks(0.5, 12, 1);
    expect(b).toEqual(a);
    const same = (p: Float32Array, q: Float32Array) => p.filter((v, i) => v === q[i]).length / p.length;
    // Independent masks of rate 0.5 agree on about half the values; the same mask on all.
    for (const [p, q] of [[a[0]!, a[1]!], [a[1]!, a[2]!], [a[0]!, c[0]!]] as const) expect(Math.abs(same(p, q) - 0.5)).toBeLessThan(0.03);
  });

  it('runs TL\'s kernel in training on webgpu and passes values through in inference', async () => {
    await tf.setBackend('webgpu');
    const layer = tf.layers.dropout({ rate: 0.3, seed: 1 });
    const x = tf.randomNormal([8, 16]);
    const { kernels } = await tf.profile(() => layer.apply(x, { training: true }) as tf.Tensor);
    expect(kernels.map((k) => k.name)).toContain(DROPOUT_MASK);
    const inference = layer.apply(x, { training: false }) as tf.Tensor;
    expect(Array.from(await inference.data())).toEqual(Array.from(await x.data()));
    tf.dispose([x, inference]);
  });
});
