import * as tf from '@tensorflow/tfjs';

/**
 * `layer.apply` on symbolic inputs, typed: tfjs returns a union of tensor kinds because the same
 * method also runs eagerly; on a SymbolicTensor input it always returns one SymbolicTensor.
 */
export function applyLayer(layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  const out = layer.apply(input);
  if (out instanceof tf.SymbolicTensor) return out;
  throw new Error(`zoo builder: layer '${layer.name}' did not return one symbolic tensor`);
}

/** The square NHWC RGB input every base starts from. */
export function imageInput(size: number): tf.SymbolicTensor {
  return tf.input({ shape: [size, size, 3], name: 'input_1' });
}
