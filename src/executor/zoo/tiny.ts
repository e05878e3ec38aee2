import * as tf from '@tensorflow/tfjs';
import { applyLayer, imageInput } from './symbolic.ts';

const CHANNELS = [8, 16, 32, 32, 64] as const;

/**
 * A small, fast CNN for tests and smoke runs: five blocks of conv 3x3 -> BatchNorm -> ReLU named
 * `blockN_conv`, `blockN_bn`, `blockN_relu`. Block 1 keeps the resolution, blocks 2-5 halve it, so a
 * 32 px input ends at 2x2x64 (output stride 16).
 */
export function buildTiny(size: number): tf.LayersModel {
  const input = imageInput(size);
  let x = input;
  CHANNELS.forEach((filters, i) => {
    const n = `block${i + 1}`;
    x = applyLayer(
      tf.layers.conv2d({ filters, kernelSize: 3, strides: i === 0 ? 1 : 2, padding: 'same', useBias: false, name: `${n}_conv` }),
      x,
    );
    x = applyLayer(tf.layers.batchNormalization({ axis: 3, name: `${n}_bn` }), x);
    x = applyLayer(tf.layers.activation({ activation: 'relu', name: `${n}_relu` }), x);
  });
  return tf.model({ inputs: input, outputs: x, name: 'tiny' });
}
