import * as tf from '@tensorflow/tfjs';
import type { AugmentOp, Origin } from '../../../src/plan/schema.ts';

export const origin: Origin = { start: 0, end: 0, line: 1, column: 1 };

type OpInput = AugmentOp extends infer T ? (T extends AugmentOp ? Omit<T, 'origin'> : never) : never;

/** A plan op with a dummy origin. */
export function op(value: OpInput): AugmentOp {
  return { ...value, origin } as AugmentOp;
}

/** A batch whose image i has pixel value f(i, row, col, channel). */
export function batchOf(
  n: number,
  h: number,
  w: number,
  c: number,
  f: (i: number, row: number, col: number, ch: number) => number,
): tf.Tensor4D {
  const data = new Float32Array(n * h * w * c);
  let p = 0;
  for (let i = 0; i < n; i++)
    for (let r = 0; r < h; r++) for (let col = 0; col < w; col++) for (let ch = 0; ch < c; ch++) data[p++] = f(i, r, col, ch);
  return tf.tensor4d(data, [n, h, w, c]);
}

export function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat() as tf.Tensor2D);
}

/** Image i of a [N,H,W,C] array as nested rows. */
export function image(data: Float32Array, shape: readonly number[], i: number): Float32Array {
  const size = shape[1]! * shape[2]! * shape[3]!;
  return data.slice(i * size, (i + 1) * size);
}

export function same(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
