import * as tf from '@tensorflow/tfjs';
import { applyLayer, imageInput } from './symbolic.ts';

/** Convolutions per block and their width, as in keras.applications.VGG16. */
const BLOCKS: readonly (readonly [convs: number, filters: number])[] = [
  [2, 64],
  [2, 128],
  [3, 256],
  [3, 512],
  [3, 512],
];

/** VGG16 without its classifier, with Keras' layer names (block1_conv1 ... block5_pool). */
export function buildVgg16(size: number): tf.LayersModel {
  const input = imageInput(size);
  let x = input;
  BLOCKS.forEach(([convs, filters], b) => {
    const n = `block${b + 1}`;
    for (let c = 1; c <= convs; c++) {
      x = applyLayer(
        tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', name: `${n}_conv${c}` }),
        x,
      );
    }
    x = applyLayer(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${n}_pool` }), x);
  });
  return tf.model({ inputs: input, outputs: x, name: 'vgg16' });
}
