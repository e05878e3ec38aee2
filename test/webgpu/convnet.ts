/**
 * The small convnet of the webgpu training tests: every kind of layer TL's training kernels serve
 * (a strided convolution, training-mode BatchNorms with their ReLUs, a depthwise convolution, a
 * 1x1 convolution with a bias, global average pooling, a dense softmax), on 12x12x3 inputs.
 */
import * as tf from '@tensorflow/tfjs';

/** With `dropout`, a Dropout layer of that rate (seeded) before the dense head. */
export function smallConvnet(dropout?: number): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 1 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  if (dropout !== undefined) x = tf.layers.dropout({ rate: dropout, seed: 7 }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}
