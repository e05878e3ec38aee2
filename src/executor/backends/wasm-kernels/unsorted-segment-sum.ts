/**
 * UnsortedSegmentSum (the gradient of gather, so of embeddings and of any indexed lookup) as a
 * matmul of a [numSegments, K] membership matrix with the K rows of x. Ids outside
 * [0, numSegments) match no segment and are dropped, as on the cpu backend. The membership
 * matrix costs numSegments * K floats: fine for gather gradients in vision models; a
 * vocabulary-sized embedding would want a scatter instead.
 */
import * as tf from '@tensorflow/tfjs';
import { opKernel } from './kernel-adapter.ts';

export const unsortedSegmentSum = opKernel(['x', 'segmentIds'], ({ x, segmentIds }, attrs: tf.UnsortedSegmentSumAttrs) => {
  const segments = attrs.numSegments;
  const rows = segmentIds.size;
  const rest = x.shape.slice(segmentIds.rank);
  const outShape = [segments, ...rest];
  if (x.size === 0 || segments === 0) return tf.zeros(outShape, x.dtype);
  const width = x.size / rows;
  const ids = tf.cast(segmentIds.reshape([1, rows]), 'int32');
  const member = tf.cast(tf.equal(tf.range(0, segments, 1, 'int32').reshape([segments, 1]), ids), 'float32');
  // BatchMatMul on wasm is float32 only; integer sums below 2^24 survive the round trip exactly.
  const sums = tf.matMul(member, tf.cast(x, 'float32').reshape([rows, width])).reshape(outShape);
  return x.dtype === 'float32' ? sums : tf.cast(tf.round(sums), x.dtype);
});
