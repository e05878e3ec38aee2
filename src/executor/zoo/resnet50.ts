import * as tf from '@tensorflow/tfjs';
import { applyLayer, imageInput } from './symbolic.ts';

/** keras.applications.resnet uses this epsilon, not the BatchNormalization default. */
const BN_EPSILON = 1.001e-5;

function convBn(
  x: tf.SymbolicTensor,
  args: { filters: number; kernel: number; strides?: number; padding?: 'same' | 'valid'; name: string },
): tf.SymbolicTensor {
  const conv = tf.layers.conv2d({
    filters: args.filters,
    kernelSize: args.kernel,
    strides: args.strides ?? 1,
    padding: args.padding ?? 'valid',
    name: `${args.name}_conv`,
  });
  return applyLayer(tf.layers.batchNormalization({ axis: 3, epsilon: BN_EPSILON, name: `${args.name}_bn` }), applyLayer(conv, x));
}

function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return applyLayer(tf.layers.activation({ activation: 'relu', name }), x);
}

/** Keras' `block1`: the bottleneck residual block; the stride sits on the first 1x1 conv. */
function bottleneck(
  x: tf.SymbolicTensor,
  args: { filters: number; strides: number; convShortcut: boolean; name: string },
): tf.SymbolicTensor {
  const { filters, strides, name } = args;
  const shortcut = args.convShortcut
    ? convBn(x, { filters: 4 * filters, kernel: 1, strides, name: `${name}_0` })
    : x;
  let y = relu(convBn(x, { filters, kernel: 1, strides, name: `${name}_1` }), `${name}_1_relu`);
  y = relu(convBn(y, { filters, kernel: 3, padding: 'same', name: `${name}_2` }), `${name}_2_relu`);
  y = convBn(y, { filters: 4 * filters, kernel: 1, name: `${name}_3` });
  const sum = applyLayer(tf.layers.add({ name: `${name}_add` }), [shortcut, y]);
  return relu(sum, `${name}_out`);
}

/** Keras' `stack1`: `blocks` bottlenecks, the first one projecting (and striding) the shortcut. */
function stack(x: tf.SymbolicTensor, args: { filters: number; blocks: number; strides: number; name: string }): tf.SymbolicTensor {
  let y = bottleneck(x, { filters: args.filters, strides: args.strides, convShortcut: true, name: `${args.name}_block1` });
  for (let i = 2; i <= args.blocks; i++) {
    y = bottleneck(y, { filters: args.filters, strides: 1, convShortcut: false, name: `${args.name}_block${i}` });
  }
  return y;
}

/** ResNet50 (v1) without its classifier, with keras.applications.ResNet50's layer names. */
export function buildResnet50(size: number): tf.LayersModel {
  const input = imageInput(size);
  let x = applyLayer(tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }), input);
  x = convBn(x, { filters: 64, kernel: 7, strides: 2, name: 'conv1' });
  x = relu(x, 'conv1_relu');
  x = applyLayer(tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }), x);
  x = applyLayer(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);
  x = stack(x, { filters: 64, blocks: 3, strides: 1, name: 'conv2' });
  x = stack(x, { filters: 128, blocks: 4, strides: 2, name: 'conv3' });
  x = stack(x, { filters: 256, blocks: 6, strides: 2, name: 'conv4' });
  x = stack(x, { filters: 512, blocks: 3, strides: 2, name: 'conv5' });
  return tf.model({ inputs: input, outputs: x, name: 'resnet50' });
}
