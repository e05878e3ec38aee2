/** Shared helpers of the webgpu parity suite: seeded inputs, the same computation on webgpu and cpu, and the comparison. */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/** Tolerance: largest difference over largest expected magnitude (fp32 sums of up to ~1e5 terms). */
export const RELATIVE_TOLERANCE = 1e-3;

/** mulberry32: the same inputs on every run and on both backends. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1) for a shape. */
export function values(shape: readonly number[], seed: number): Float32Array {
  const next = random(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1);
}

/** An integer in [lo, hi] from `next`. */
export function pick(next: () => number, lo: number, hi: number): number {
  return lo + Math.floor(next() * (hi - lo + 1));
}

/** One element of `xs` from `next`. */
export function choose<T>(next: () => number, xs: readonly T[]): T {
  const x = xs[Math.floor(next() * xs.length)];
  if (x === undefined) throw new Error('choose from an empty list');
  return x;
}

/**
 * Runs `f` on `backend` with fresh tensors of `shapes` (seeded) and returns its outputs' values,
 * read with `await data()` (dataSync fails under Node on webgpu). Checks nothing is left allocated.
 */
export async function runOn(backend: 'webgpu' | 'cpu', shapes: readonly (readonly number[])[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], seed = 7): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = shapes.map((s, i) => tf.tensor(values(s, seed + 101 * i), [...s]));
  const out = tf.tidy(() => f(...xs));
  const outs = Array.isArray(out) ? out : [out];
  const data = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([...xs, ...outs]);
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

/** Largest difference relative to the largest expected magnitude. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? NaN;
    const e = expected[i] ?? NaN;
    diff = Math.max(diff, Number.isNaN(a - e) ? Infinity : Math.abs(a - e));
    scale = Math.max(scale, Math.abs(e));
  }
  return diff / Math.max(scale, 1e-6);
}

/** Runs `f` on webgpu and on cpu and expects every output to agree within RELATIVE_TOLERANCE. */
export async function expectParity(shapes: readonly (readonly number[])[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], seed = 7): Promise<number> {
  const gpu = await runOn('webgpu', shapes, f, seed);
  const cpu = await runOn('cpu', shapes, f, seed);
  await tf.setBackend('webgpu');
  expect(gpu.length).toBe(cpu.length);
  let worst = 0;
  gpu.forEach((g, i) => {
    const err = relativeError(g, cpu[i] ?? new Float32Array());
    worst = Math.max(worst, err);
    expect(err, `output ${i}`).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });
  return worst;
}

/** A scalar that weights every output differently, so the upstream gradient is not all ones. */
export function weightedSum(y: tf.Tensor, seed = 99): tf.Scalar {
  return tf.sum(tf.mul(y, tf.tensor(values(y.shape, seed), y.shape)));
}
