/**
 * The training-mode BatchNorm op (../batchnorm-training.ts) on the wasm backend: four passes over
 * the activations a layer and step (the statistics, the normalisation; the gradient's two sums,
 * dx) where tfjs's moments, FusedBatchNorm and autodiff through them take about 25, each a
 * transpose or a broadcast of its own. The passes are SIMD WebAssembly on the backend's heap
 * (batchnorm-passes.ts); the per-channel arithmetic between them is here, in float64.
 */
import * as tf from '@tensorflow/tfjs';
import { channelsOf, type BatchNormAttrs, type TrainingBatchNorm } from '../batchnorm-training.ts';
import { batchNormPasses } from './batchnorm-passes.ts';
import { heapOf, memoryOf, views, withScratch, writableInPlace } from './heap.ts';

/**
 * The activation as the bounds of the normalised value: the output is min(max(v, lo), hi), and a
 * masked gradient passes dy where lo < v <= hi (tfjs's relu gradient passes nothing at 0, its
 * clip's passes the upper bound). 'linear' masks nothing.
 */
function boundsOf(activation: BatchNormAttrs['activation']): { masked: boolean; lo: number; hi: number } {
  if (activation === 'relu') return { masked: true, lo: 0, hi: Infinity };
  if (activation === 'relu6') return { masked: true, lo: 0, hi: 6 };
  return { masked: false, lo: -Infinity, hi: Infinity };
}

const bnForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const heap = heapOf(backend);
  const wasm = memoryOf(backend);
  const passes = batchNormPasses(wasm.memory);
  const { varianceEpsilon, momentum, activation } = attrs as unknown as BatchNormAttrs;
  if (inputs['x'] === undefined) throw new Error('BatchNorm forward needs x');
  const { rows, cols } = channelsOf(inputs['x']);
  const yInfo = heap.makeOutput(inputs['x'].shape, 'float32');
  const statsInfo = heap.makeOutput([3, cols], 'float32');
  withScratch(wasm, 16 * cols, (sumsAt) => {
    const [x, gamma, beta, movingMean, movingVariance] = views(heap, inputs, ['x', 'scale', 'offset', 'movingMean', 'movingVariance'], 'BatchNorm forward');
    const stats = heap.typedArrayFromHeap(statsInfo);
    // Shifted by the first row, k.
    passes.shifted_sums(x!.byteOffset, rows, cols, x!.byteOffset, sumsAt, sumsAt + 8 * cols);
    const sums = new Float64Array(stats.buffer, sumsAt, 2 * cols);
    const decay = 1 - momentum;
    for (let c = 0; c < cols; c++) {
      const m = sums[c]! / rows;
      const mean = (rows > 0 ? x![c]! : 0) + m;
      const variance = Math.max(sums[cols + c]! / rows - m * m, 0);
      stats[c] = mean;
      stats[cols + c] = variance;
      stats[2 * cols + c] = gamma![c]! / Math.sqrt(variance + varianceEpsilon);
      movingMean![c] = movingMean![c]! - (movingMean![c]! - mean) * decay;
      movingVariance![c] = movingVariance![c]! - (movingVariance![c]! - variance) * decay;
    }
    const { lo, hi } = boundsOf(activation);
    passes.normalise(x!.byteOffset, rows, cols, stats.byteOffset, stats.byteOffset + 8 * cols, beta!.byteOffset, lo, hi, heap.typedArrayFromHeap(yInfo).byteOffset);
  });
  return [yInfo, statsInfo];
};

// dx = g d + b (x - mean) + e per channel, d = dy masked by the activation: g = gamma rstd,
// b = -g rstd^2 sum(d (x - mean)) / N, e = -g sum(d) / N; dgamma = sum(d (x - mean)) rstd, dbeta = sum(d).
const bnTrainingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const heap = heapOf(backend);
  const wasm = memoryOf(backend);
  const passes = batchNormPasses(wasm.memory);
  const { varianceEpsilon, activation } = attrs as unknown as BatchNormAttrs;
  const { masked, lo, hi } = boundsOf(activation);
  if (inputs['x'] === undefined) throw new Error('BatchNorm gradient needs x');
  const { rows, cols } = channelsOf(inputs['x']);
  const dxInfo = heap.makeOutput(inputs['x'].shape, 'float32');
  const dscaleInfo = heap.makeOutput([cols], 'float32');
  const doffsetInfo = heap.makeOutput([cols], 'float32');
  // Two float64 sums and three float32 coefficients per channel.
  withScratch(wasm, 28 * cols, (sumsAt) => {
    const [x, dy, stats, gamma] = views(heap, inputs, ['x', 'dy', 'stats', 'scale'], 'BatchNorm gradient');
    // beta only recomputes v for the mask.
    const betaAt = masked ? views(heap, inputs, ['offset'], 'BatchNorm gradient with an activation')[0]!.byteOffset : 0;
    const [meanAt, scaleAt] = [stats!.byteOffset, stats!.byteOffset + 8 * cols];
    const coefficientsAt = sumsAt + 16 * cols;
    const at = [x!.byteOffset, dy!.byteOffset, rows, cols, meanAt, scaleAt, betaAt, lo, hi] as const;
    if (masked) passes.gradient_sums_masked(...at, sumsAt, sumsAt + 8 * cols);
    else passes.gradient_sums(...at, sumsAt, sumsAt + 8 * cols);
    const sums = new Float64Array(stats!.buffer, sumsAt, 2 * cols);
    const coefficients = new Float32Array(stats!.buffer, coefficientsAt, 3 * cols);
    const variance = stats!.subarray(cols, 2 * cols);
    const dscale = heap.typedArrayFromHeap(dscaleInfo);
    const doffset = heap.typedArrayFromHeap(doffsetInfo);
    for (let c = 0; c < cols; c++) {
      const rstd = 1 / Math.sqrt(variance[c]! + varianceEpsilon);
      const g = gamma![c]! * rstd;
      coefficients[c] = g;
      coefficients[cols + c] = -g * rstd * rstd * sums[cols + c]! / rows;
      coefficients[2 * cols + c] = -g * sums[c]! / rows;
      dscale[c] = sums[cols + c]! * rstd;
      doffset[c] = sums[c]!;
    }
    const dxAt = heap.typedArrayFromHeap(dxInfo).byteOffset;
    if (masked) passes.input_gradient_masked(...at, coefficientsAt, coefficientsAt + 4 * cols, coefficientsAt + 8 * cols, dxAt);
    else passes.input_gradient(...at, coefficientsAt, coefficientsAt + 4 * cols, coefficientsAt + 8 * cols, dxAt);
  });
  return [dxInfo, dscaleInfo, doffsetInfo];
};

/**
 * The op on wasm: every float32 input. A moving statistic whose data a tensor shares (after an
 * assign: wasm's clones copy) gets data of its own before it is written.
 */
export const WASM_BATCHNORM: TrainingBatchNorm = {
  forward: bnForward,
  gradient: bnTrainingGrad,
  writable: writableInPlace,
  takes: () => true,
};
