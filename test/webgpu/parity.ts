/**
 * The core of the webgpu parity suite, free of vitest so the GPU benchmark bundle can run the same
 * cases on a machine without Node tooling: seeded inputs, one computation on webgpu and on cpu,
 * and the comparison. Cases built with `sameOnBoth` run on wasm as well, for the kernels TL has
 * there too (test/executor/batchnorm-training.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../src/executor/augment/rng.ts';

/** Tolerance: largest difference over largest expected magnitude (fp32 sums of up to ~1e5 terms). */
export const RELATIVE_TOLERANCE = 1e-3;

/** The backends whose kernels a case can test against cpu's. */
export type TestedBackend = 'webgpu' | 'wasm';

/** One parity check: the outputs on the tested backend (webgpu unless given) and the reference outputs on cpu, to be compared pairwise. */
export interface ParityCase {
  readonly name: string;
  run(backend?: TestedBackend): Promise<{ readonly tested: Float32Array[]; readonly cpu: Float32Array[] }>;
}

/** The project's seeded PRNG: the same inputs on every run and on every backend. */
export function random(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
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

/** A scalar that weights every output differently, so the upstream gradient is not all ones. */
export function weightedSum(y: tf.Tensor, seed = 99): tf.Scalar {
  return tf.sum(tf.mul(y, tf.tensor(values(y.shape, seed), y.shape)));
}

/**
 * Runs `f` on `backend` with fresh tensors of `shapes` (seeded) and returns its outputs' values,
 * read with `await data()` (dataSync fails under Node on webgpu). Throws if tensors are left behind.
 */
export async function runOn(backend: TestedBackend | 'cpu', shapes: readonly (readonly number[])[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], seed = 7): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = shapes.map((s, i) => tf.tensor(values(s, seed + 101 * i), [...s]));
  const out = tf.tidy(() => f(...xs));
  const outs = Array.isArray(out) ? out : [out];
  const data = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([...xs, ...outs]);
  const left = tf.memory().numTensors - before;
  if (left !== 0) throw new Error(`${left} tensors left behind on ${backend}`);
  return data;
}

/**
 * A case that runs `f` on the tested backend and on cpu from the same inputs. The cpu values are
 * computed once a case: the conv2d cases run again with each GEMM tile forced, against the same
 * reference.
 */
export function sameOnBoth(name: string, shapes: readonly (readonly number[])[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], seed = 7): ParityCase {
  let reference: Promise<Float32Array[]> | undefined;
  return {
    name,
    run: async (backend = 'webgpu') => {
      const tested = await runOn(backend, shapes, f, seed);
      reference ??= runOn('cpu', shapes, f, seed);
      const cpu = await reference;
      await tf.setBackend(backend);
      return { tested, cpu };
    },
  };
}

/** Largest difference relative to the largest expected magnitude; Infinity on a length mismatch or NaN. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN));
    diff = Math.max(diff, Number.isNaN(d) ? Infinity : d);
    scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  }
  return diff / Math.max(scale, 1e-6);
}

/** The worst relative error over a case's outputs on `backend` (Infinity when the output counts differ). */
export async function worstError(c: ParityCase, backend?: TestedBackend): Promise<number> {
  const { tested, cpu } = await c.run(backend);
  if (tested.length !== cpu.length) return Infinity;
  return Math.max(0, ...tested.map((g, i) => relativeError(g, cpu[i] ?? new Float32Array())));
}
