/**
 * Tile as a broadcasting multiply by ones. The shipped wasm Tile is an element-by-element loop,
 * about 40x slower than XNNPACK's broadcasting multiply; tfjs-core's batch-norm gradient tiles
 * 1/sqrt(variance) to the full activation shape, so with the shipped kernel Tile alone took a
 * third of a small CNN's training step.
 */
import * as tf from '@tensorflow/tfjs';
import { opKernel } from './kernel-adapter.ts';

/** XNNPACK's limit on the rank of broadcasting binary ops: beyond it the wasm backend returns garbage. */
const MAX_BROADCAST_RANK = 6;

/**
 * Shapes for x and for the ones it is multiplied by, one axis pair (reps, size) per input axis,
 * with neighbouring axes that broadcast the same way merged: x [d0, d1], reps [r0, 1] becomes
 * x [1, d0 * d1] times ones [r0, 1], which yields [r0 * d0, d1] after a reshape.
 */
function broadcastShapes(shape: readonly number[], reps: readonly number[]): { x: number[]; ones: number[] } {
  const x: number[] = [];
  const ones: number[] = [];
  let last: 'rep' | 'data' | undefined;
  const push = (kind: 'rep' | 'data', size: number) => {
    if (size === 1) return;
    const i = x.length - 1;
    if (kind === last && i >= 0) {
      if (kind === 'rep') ones[i] = (ones[i] ?? 1) * size;
      else x[i] = (x[i] ?? 1) * size;
      return;
    }
    x.push(kind === 'data' ? size : 1);
    ones.push(kind === 'rep' ? size : 1);
    last = kind;
  };
  shape.forEach((size, axis) => {
    push('rep', reps[axis] ?? 1);
    push('data', size);
  });
  return { x, ones };
}

function tileByBroadcast(x: tf.Tensor, reps: readonly number[]): tf.Tensor {
  const outShape = x.shape.map((size, axis) => size * (reps[axis] ?? 1));
  if (x.size === 0 || outShape.some((s) => s === 0)) return tf.zeros(outShape, x.dtype);
  const shapes = broadcastShapes(x.shape, reps);
  if (shapes.x.length <= MAX_BROADCAST_RANK) {
    return tf.mul(x.reshape(shapes.x), tf.ones(shapes.ones, x.dtype)).reshape(outShape);
  }
  // Too many alternating axes for one broadcast: tile the leading axes, then the rest.
  const half = Math.ceil(reps.length / 2);
  const first = reps.map((r, axis) => (axis < half ? r : 1));
  const second = reps.map((r, axis) => (axis < half ? 1 : r));
  return tileByBroadcast(tileByBroadcast(x, first), second);
}

export const tile = opKernel(['x'], ({ x }, attrs: tf.TileAttrs) => {
  if (x.dtype === 'string') throw new Error('Tile of strings is not supported on the wasm backend');
  if (x.dtype === 'bool') return tf.cast(tileByBroadcast(tf.cast(x, 'int32'), attrs.reps), 'bool');
  if (x.dtype === 'complex64') throw new Error('Tile of complex64 is not supported on the wasm backend');
  return tileByBroadcast(x, attrs.reps);
});
