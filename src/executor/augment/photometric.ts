/**
 * Value augmentations: brightness, contrast and gaussian noise, per image, with every random
 * number drawn in JavaScript (except noise on webgpu, drawn on the GPU from one seed).
 *
 * Values are assumed to be in the model's input range `[min, max]` (e.g. [-1, 1] for MobileNetV2,
 * [0, 1] for a plain rescale): `brightness.delta` and `noise.stddev` are fractions of the range's
 * span, and each op clips its result back into the range, as Keras' RandomBrightness does.
 *
 * Only single IEEE float32 operations touch the tensors (add, sub, mul, div, clip, pad, slice),
 * never a backend reduction, whose summation order differs between backends; see `exactMean`.
 */
import * as tf from '@tensorflow/tfjs';
import { GAUSSIAN_NOISE } from '../backends/webgpu/noise.ts';
import type { Rng } from './rng.ts';

export type ValueRange = readonly [min: number, max: number];

/** Adds one offset per image, uniform in ±delta × span. */
export function brightness(x: tf.Tensor4D, delta: number, range: ValueRange, rng: Rng): tf.Tensor4D {
  const n = x.shape[0];
  const span = range[1] - range[0];
  const shift = new Float32Array(n);
  for (let i = 0; i < n; i++) shift[i] = rng.uniform(-delta, delta) * span;
  return tf.clipByValue(tf.add(x, tf.tensor4d(shift, [n, 1, 1, 1])), range[0], range[1]);
}

/**
 * Scales each image's distance from its own per-channel mean by a factor uniform in
 * [1 - factor, 1 + factor] (tf.image.adjust_contrast, Keras' RandomContrast).
 */
export function contrast(x: tf.Tensor4D, factor: number, range: ValueRange, rng: Rng): tf.Tensor4D {
  const n = x.shape[0];
  const scale = new Float32Array(n);
  for (let i = 0; i < n; i++) scale[i] = rng.uniform(1 - factor, 1 + factor);
  // webgpu agrees with cpu only to rounding anyway (its resampler and noise run on the GPU): there
  // the backend's mean, two dispatches instead of the exact tree's fifty-odd at 224 px.
  const mean = tf.getBackend() === 'webgpu' ? (tf.mean(x, [1, 2], true) as tf.Tensor4D) : exactMean(x);
  const out: tf.Tensor4D = tf.add(tf.mul(tf.sub(x, mean), tf.tensor4d(scale, [n, 1, 1, 1])), mean);
  return tf.clipByValue(out, range[0], range[1]);
}

/**
 * Adds gaussian noise with standard deviation stddev × span, drawn in JS; on a backend with a noise
 * kernel of its own (webgpu), drawn there from one seed taken from `rng`.
 */
export function noise(x: tf.Tensor4D, stddev: number, range: ValueRange, rng: Rng): tf.Tensor4D {
  const sigma = stddev * (range[1] - range[0]);
  if (tf.getKernel(GAUSSIAN_NOISE, tf.getBackend()) !== undefined) {
    const seed = Math.floor(rng.next() * 2 ** 32);
    return tf.engine().runKernel(GAUSSIAN_NOISE, { x }, { seed, sigma, lo: range[0], hi: range[1] }) as tf.Tensor4D;
  }
  const values = new Float32Array(x.size);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * sigma;
  return tf.clipByValue(tf.add(x, tf.tensor4d(values, x.shape)), range[0], range[1]);
}

/**
 * The per-image, per-channel mean over height and width, shape [N, 1, 1, C], summed as a balanced
 * tree of elementwise adds (halving; an odd row out is carried to the next level) so that every
 * backend adds the same numbers in the same order and rounds identically. A backend `mean`
 * accumulates in float on wasm and in double on cpu, which breaks bit-identical augmentation.
 */
export function exactMean(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  let len = h * w;
  let s: tf.Tensor3D = x.reshape([n, len, c]);
  while (len > 1) {
    const half = Math.floor(len / 2);
    let sum: tf.Tensor3D = tf.add(tf.slice(s, [0, 0, 0], [n, half, c]), tf.slice(s, [0, half, 0], [n, half, c]));
    if (len % 2 === 1) sum = tf.concat([sum, tf.slice(s, [0, len - 1, 0], [n, 1, c])], 1);
    s = sum;
    len = sum.shape[1];
  }
  return tf.div(s, h * w).reshape([n, 1, 1, c]);
}
