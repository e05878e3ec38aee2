/**
 * The webgpu kernels of the training-mode BatchNorm op (../batchnorm-training.ts): the forward
 * pass is one pass for the sums, one small per-channel dispatch for the statistics and both moving
 * averages, and one pass to normalise; the gradient is one pass for the two sums, one per-channel
 * dispatch for dx's coefficients and the scale and offset gradients, and one pass for dx: four
 * passes over the activations and six dispatches a layer and step.
 */
import * as tf from '@tensorflow/tfjs';
import { BN_FORWARD, BN_TRAINING_GRAD, channelsOf, type BatchNormAttrs, type TrainingBatchNorm } from '../batchnorm-training.ts';
import { inFours, release, runProgram, webgpuBackendOf } from './backend.ts';
import { writableInPlace } from './in-place.ts';
import { ChannelAffineProgram, channelProgram, NormalizeProgram, pairPartials, perChannel, type ChannelConstants } from './batchnorm-programs.ts';
import { columnsFit } from './reduce-programs.ts';

const STATISTICS = channelProgram(
  'tlBnStats',
  ['partial', 'x', 'gamma'],
  ['stats', 'movingMean', 'movingVariance'],
  `let m = sA * uniforms.inv;
  let mean = x[c] + m;
  let variance = max(sB * uniforms.inv - m * m, 0.0);
  stats[c] = mean;
  stats[uniforms.cols + c] = variance;
  stats[2 * uniforms.cols + c] = gamma[c] * inverseSqrt(variance + uniforms.eps);
  movingMean[c] = movingMean[c] - (movingMean[c] - mean) * uniforms.decay;
  movingVariance[c] = movingVariance[c] - (movingVariance[c] - variance) * uniforms.decay;`,
);

/** Kernel function of BN_FORWARD: shifted sums in one pass, the statistics with the moving averages (in place), the normalisation. */
const bnForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, scale, offset, movingMean, movingVariance } = inputs;
  if (x === undefined || scale === undefined || offset === undefined || movingMean === undefined || movingVariance === undefined) {
    throw new Error(`${BN_FORWARD} needs x, scale, offset, movingMean and movingVariance`);
  }
  const { varianceEpsilon, momentum, activation = 'linear' } = attrs as unknown as BatchNormAttrs;
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  const { partial, chunks } = pairPartials(gpu, 'moments', [x], rows, cols);
  const k: ChannelConstants = { rows, cols, epsilon: varianceEpsilon, decay: 1 - momentum, chunks };
  const [stats] = perChannel(gpu, STATISTICS, [partial, x, scale], [[3, cols], movingMean, movingVariance], k);
  release(gpu, partial);
  const v4 = inFours([cols]);
  const y = runProgram(gpu, new NormalizeProgram(x.shape, activation, v4), [x, stats!, offset], [{ type: 'int32', data: [v4 ? cols / 4 : cols] }]);
  return [y, stats!];
};

// dx = a dy + b x + d per channel: a = g, b = -g rstd^2 sumDyXc / N, d = -g sumDy / N - b mean;
// dgamma = sum(dy (x - mean)) rstd, dbeta = sum(dy).
const GRADIENTS = channelProgram(
  'tlBnGradients',
  ['partial', 'stats', 'gamma'],
  ['coef', 'dscale', 'doffset'],
  `let r = inverseSqrt(stats[uniforms.cols + c] + uniforms.eps);
  let g = gamma[c] * r;
  let b = -g * r * r * uniforms.inv * sB;
  coef[c] = g;
  coef[uniforms.cols + c] = b;
  coef[2 * uniforms.cols + c] = -g * uniforms.inv * sA - b * stats[c];
  dscale[c] = sB * r;
  doffset[c] = sA;`,
);

/** Kernel function of BN_TRAINING_GRAD: the two gradient sums in one pass, then the per-channel values, then dx. */
const bnTrainingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy, stats, scale, offset } = inputs;
  const { varianceEpsilon, activation = 'linear' } = attrs as unknown as BatchNormAttrs;
  if (x === undefined || dy === undefined || stats === undefined || scale === undefined || (activation !== 'linear' && offset === undefined)) {
    throw new Error(`${BN_TRAINING_GRAD} needs x, dy, stats and scale, and offset with an activation`);
  }
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  // The statistics' row 0 is the mean; with an activation, they and beta give y again for its mask.
  const beta = activation === 'linear' ? [] : [offset!];
  const { partial, chunks } = pairPartials(gpu, 'gradient', [x, dy, stats, ...beta], rows, cols, activation);
  const k: ChannelConstants = { rows, cols, epsilon: varianceEpsilon, chunks };
  const [coef, dscale, doffset] = perChannel(gpu, GRADIENTS, [partial, stats, scale], [[3, cols], [cols], [cols]], k);
  release(gpu, partial);
  const masking = activation === 'linear' ? [] : [stats, offset!];
  const v4 = inFours([cols]);
  const dx = runProgram(gpu, new ChannelAffineProgram(x.shape, activation, v4), [dy, x, coef!, ...masking], [{ type: 'int32', data: [v4 ? cols / 4 : cols] }]);
  release(gpu, coef!);
  return [dx, dscale!, doffset!];
};

/** The op on webgpu: the moving statistics written in their own buffers; channels up to the dispatch limit. */
export const WEBGPU_BATCHNORM: TrainingBatchNorm = {
  forward: bnForward,
  gradient: bnTrainingGrad,
  writable: (variable) => writableInPlace(webgpuBackendOf(tf.backend()), variable),
  takes: columnsFit,
};
