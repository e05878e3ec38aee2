/**
 * Training-mode BatchNorm gradient cases: moments + batchNorm as tfjs-layers composes them, with
 * independent mean and variance (all five input gradients), and a tf.layers.batchNormalization
 * layer in training mode. (Without a scale tfjs 4.22 fails before any gradient runs, on every
 * backend: it saves the missing scale for backprop; so no case has none.)
 */
import * as tf from '@tensorflow/tfjs';
import { fuseActivationsForTraining } from '../../../src/executor/fold-batchnorm.ts';
import { sameOnBoth, weightedSum, type ParityCase } from '../parity.ts';

const EPS = 1e-3;
const SHAPES: number[][] = [
  [2, 5, 5, 3],
  [1, 7, 7, 16],
  [3, 1, 1, 5],
  [32, 4],
  [5, 3, 70],
  // 2048 rows: the sums run in chunks and a second pass.
  [8, 16, 16, 33],
  [4, 9, 11, 64],
];

/** Batch statistics over every axis but the last, as tfjs-layers' BatchNormalization in training. */
function trainingBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, x.shape.slice(0, -1).map((_, i) => i));
  return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, EPS);
}

export function batchNormCases(): ParityCase[] {
  const channels = (s: number[]) => [s[s.length - 1] ?? 1];
  const batchStats = SHAPES.map((s) =>
    sameOnBoth(`batch statistics, grads of x, gamma, beta: ${s.join('x')}`, [s, channels(s), channels(s)], (x, g, b) =>
      tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => weightedSum(trainingBatchNorm(xx, tf.add(gg, 1.5), bb)))([x!, g!, b!]),
    ),
  );
  const independent = SHAPES.slice(0, 5).map((s) =>
    sameOnBoth(`independent statistics, all five gradients: ${s.join('x')}`, [s, ...Array.from({ length: 4 }, () => channels(s))], (x, m, v, g, b) =>
      tf.grads((xx: tf.Tensor, mm: tf.Tensor, vv: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        weightedSum(tf.batchNorm(xx, mm as tf.Tensor1D, tf.add(tf.abs(vv), 0.5) as tf.Tensor1D, bb as tf.Tensor1D, gg as tf.Tensor1D, EPS)),
      )([x!, m!, v!, g!, b!]),
    ),
  );
  const layers = LAYER_CASES.map(({ shape, axis, offset }) =>
    sameOnBoth(
      `a tf.layers.batchNormalization layer training, axis ${axis}${offset ? `, inputs offset by ${offset}` : ''}: ${shape.join('x')}`,
      [shape, ...Array.from({ length: 4 }, () => [shape.at(axis) ?? 1])],
      (x, g, b, m, v) => layerStep(axis, tf.add(x!, offset), [tf.add(g!, 1.5), b!, m!, tf.add(tf.abs(v!), 0.5)]),
    ),
  );
  const fused = FUSED_CASES.map(({ shape, activation }) =>
    sameOnBoth(
      `a BatchNorm layer training with the ${activation} after it fused (marked as tl run marks it): ${shape.join('x')}`,
      [shape, ...Array.from({ length: 4 }, () => [shape.at(-1) ?? 1])],
      (x, g, b, m, v) => fusedStep(shape, activation, x!, [tf.mul(tf.add(g!, 1.5), 3), b!, m!, tf.add(tf.abs(v!), 0.5)]),
    ),
  );
  return [...batchStats, ...independent, ...layers, ...fused];
}

/**
 * A BatchNorm and the activation layer after it, as TL's training fuses them (on webgpu one op that
 * writes the activated output and masks dy; on cpu the two layers): gamma scaled so that the
 * normalised values cross 0, and 6 for ReLU6.
 */
const FUSED_CASES: { shape: number[]; activation: 'ReLU' | 'ReLU6' | 'Activation relu' | 'Activation relu6' }[] = [
  { shape: [4, 5, 5, 12], activation: 'ReLU' },
  { shape: [4, 5, 5, 12], activation: 'ReLU6' },
  { shape: [6, 7, 10], activation: 'Activation relu' },
  // 2048 rows: both gradient passes chunked.
  { shape: [8, 16, 16, 33], activation: 'Activation relu6' },
];

function activationLayer(activation: (typeof FUSED_CASES)[number]['activation']): tf.layers.Layer {
  if (activation === 'ReLU') return tf.layers.reLU();
  if (activation === 'ReLU6') return tf.layers.reLU({ maxValue: 6 });
  return tf.layers.activation({ activation: activation === 'Activation relu' ? 'relu' : 'relu6' });
}

/** A BatchNorm then the activation layer, fused as `tl run` marks them, in one training-mode call (as `trainingCall`). */
function fusedStep(shape: number[], activation: (typeof FUSED_CASES)[number]['activation'], x: tf.Tensor, weights: tf.Tensor[]): tf.Tensor[] {
  const input = tf.input({ shape: shape.slice(1) });
  const bn = tf.layers.batchNormalization({ momentum: 0.9 });
  const model = tf.model({ inputs: input, outputs: activationLayer(activation).apply(bn.apply(input)) as tf.SymbolicTensor });
  bn.setWeights(weights);
  const fused = fuseActivationsForTraining(model);
  if (fused.pairs.length !== 1) throw new Error(`expected one fused pair, found ${fused.pairs.length}`);
  const out = trainingCall(bn, (xv) => model.apply(xv, { training: true }) as tf.Tensor, x);
  fused.restore();
  model.dispose();
  return out;
}

/**
 * Layer cases: channels last (TL's fused op on webgpu) over ranks 2-4, and a large mean. No
 * channels-first case: tfjs 4.22 has no reference for it (its gradient of a broadcast BatchNorm
 * fails on every backend, "Size(360) must match the product of shape 1,6,1,1", and its cpu
 * batchNorm reads [1, C, 1, 1] statistics as if the channel were the last axis).
 */
const LAYER_CASES: { shape: number[]; axis: number; offset: number }[] = [
  { shape: [4, 5, 5, 12], axis: -1, offset: 0 },
  { shape: [32, 4], axis: -1, offset: 0 },
  { shape: [5, 3, 70], axis: 2, offset: 0 },
  // 2048 rows: both passes chunked.
  { shape: [8, 16, 16, 33], axis: 3, offset: 0 },
  { shape: [2, 3, 3, 130], axis: -1, offset: 0 },
  // 9,216 rows in 144 chunks: more chunks than a channel's 64 summing lanes, each lane adding 2 or 3.
  { shape: [4, 48, 48, 8], axis: -1, offset: 0 },
  // The shifted sums keep the variance's digits when the mean dwarfs the spread.
  { shape: [4, 9, 11, 20], axis: -1, offset: 300 },
];

/** One training-mode call of a fresh layer with the given gamma, beta and moving statistics (as `trainingCall`). */
function layerStep(axis: number, x: tf.Tensor, weights: tf.Tensor[]): tf.Tensor[] {
  const bn = tf.layers.batchNormalization({ axis, momentum: 0.9 });
  bn.apply(x, { training: false }); // builds it
  bn.setWeights(weights);
  const out = trainingCall(bn, (xv) => bn.apply(xv, { training: true }) as tf.Tensor, x);
  bn.dispose();
  return out;
}

/**
 * `call` on x, through BatchNorm layer `bn`: the output, the gradients of a weighted sum for x,
 * gamma and beta, and the moving mean and variance the call wrote.
 */
function trainingCall(bn: tf.layers.Layer, call: (x: tf.Variable) => tf.Tensor, x: tf.Tensor): tf.Tensor[] {
  const xv = tf.variable(x);
  const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
  let y: tf.Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    y = tf.keep(call(xv));
    return weightedSum(y);
  }, [xv, gamma!, beta!]);
  const out = [y!, grads[xv.name]!, grads[gamma!.name]!, grads[beta!.name]!, ...bn.getWeights().slice(2).map((w) => w.clone())];
  xv.dispose();
  return out;
}
