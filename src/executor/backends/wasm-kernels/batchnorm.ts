/**
 * The training-mode BatchNorm op (../batchnorm-training.ts) on the wasm backend: plain loops over
 * the backend's heap, four passes over the activations a layer and step (the statistics, the
 * normalisation; the gradient's two sums, dx) where tfjs's moments, FusedBatchNorm and autodiff
 * through them take about 25, each a transpose or a broadcast of its own. Sums are kept in float64.
 * Each pass is a small function of typed arrays, so that V8 optimises it on its own.
 */
import * as tf from '@tensorflow/tfjs';
import { channelsOf, type BatchNormAttrs, type TrainingBatchNorm } from '../batchnorm-training.ts';
import { noteWriteInPlace } from '../in-place-writes.ts';
import { heapOf, views } from './heap.ts';

/**
 * The activation as bounds of the value before it: a masked gradient passes dy where lo < y <= hi
 * (tfjs's relu gradient passes nothing at 0, its clip's passes the upper bound). 'linear' masks
 * nothing. The loops below are branch-free where the branch would follow the data (a mispredicted
 * branch per value made a pass 2-3 times slower).
 */
interface Mask {
  readonly masked: boolean;
  readonly lo: number;
  readonly hi: number;
}

function maskOf(activation: BatchNormAttrs['activation']): Mask {
  if (activation === 'relu') return { masked: true, lo: 0, hi: Infinity };
  if (activation === 'relu6') return { masked: true, lo: 0, hi: 6 };
  return { masked: false, lo: -Infinity, hi: Infinity };
}

/** The bits of 6 as a float32, which orders like the value among non-negative float32s. */
const SIX_BITS = new Int32Array(new Float32Array([6]).buffer)[0]!;

/** A BatchNorm's input seen as `[rows, cols]`, cols its channels. */
interface Activations {
  readonly x: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** The input with its statistics as the normalisation reads them: y = (x - mean) scale + beta, per channel. */
interface Normalised extends Activations {
  readonly mean: Float32Array;
  readonly scale: Float32Array;
  readonly beta: Float32Array;
}

/** Two sums per channel. */
interface Sums {
  readonly a: Float64Array;
  readonly b: Float64Array;
}

/** Per channel c: the sums of x - k[c] and of its square. */
function shiftedSums({ x, rows, cols }: Activations, k: Float64Array): Sums {
  const sa = new Float64Array(cols);
  const sb = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++, i += cols) {
    for (let c = 0; c < cols; c++) {
      const a = x[i + c]! - k[c]!;
      sa[c] = sa[c]! + a;
      sb[c] = sb[c]! + a * a;
    }
  }
  return { a: sa, b: sb };
}

/**
 * Writes y, then the activation: relu as (v + |v|) / 2, relu6 by clamping the float32's bits (sign
 * to 0, then the least of it and 6's bits); NaN stays NaN. The gradient's mask recomputes the value
 * before the activation by this same expression from the same statistics.
 */
function normalise({ x, rows, cols, mean, scale, beta }: Normalised, activation: BatchNormAttrs['activation'], y: Float32Array): void {
  const relu = activation === 'relu';
  const relu6 = activation === 'relu6';
  const bits = new Int32Array(y.buffer, y.byteOffset, y.length);
  for (let r = 0, i = 0; r < rows; r++, i += cols) {
    for (let c = 0; c < cols; c++) {
      const j = i + c;
      const v = (x[j]! - mean[c]!) * scale[c]! + beta[c]!;
      if (relu) y[j] = (v + Math.abs(v)) * 0.5;
      else if (relu6 && v === v) {
        y[j] = v;
        const b = bits[j]! & ~(bits[j]! >> 31);
        const d = b - SIX_BITS;
        bits[j] = SIX_BITS + (d & (d >> 31));
      } else y[j] = v;
    }
  }
}

/**
 * Per channel: sum(d) and sum(d (x - mean)), d = dy where the activation passed y (if masked),
 * else 0 (as dy times 0, so a non-finite dy there gives NaN, as tfjs's relu gradient, dy step(y), does).
 */
function gradientSums({ x, rows, cols, mean, scale, beta }: Normalised, dy: Float32Array, { masked, lo, hi }: Mask): Sums {
  const sa = new Float64Array(cols);
  const sb = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++, i += cols) {
    for (let c = 0; c < cols; c++) {
      const xc = x[i + c]! - mean[c]!;
      const v = xc * scale[c]! + beta[c]!;
      const d = masked ? dy[i + c]! * (Number(v > lo) & Number(v <= hi)) : dy[i + c]!;
      sa[c] = sa[c]! + d;
      sb[c] = sb[c]! + d * xc;
    }
  }
  return { a: sa, b: sb };
}

/** dx = g d + b x + e per channel, with d masked as in gradientSums. */
interface Coefficients {
  readonly g: Float64Array;
  readonly b: Float64Array;
  readonly e: Float64Array;
}

function inputGradient({ x, rows, cols, mean, scale, beta }: Normalised, dy: Float32Array, { masked, lo, hi }: Mask, { g, b, e }: Coefficients, dx: Float32Array): void {
  for (let r = 0, i = 0; r < rows; r++, i += cols) {
    for (let c = 0; c < cols; c++) {
      const xv = x[i + c]!;
      const v = (xv - mean[c]!) * scale[c]! + beta[c]!;
      const d = masked ? dy[i + c]! * (Number(v > lo) & Number(v <= hi)) : dy[i + c]!;
      dx[i + c] = g[c]! * d + b[c]! * xv + e[c]!;
    }
  }
}

const bnForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const heap = heapOf(backend);
  const { varianceEpsilon, momentum, activation } = attrs as unknown as BatchNormAttrs;
  if (inputs['x'] === undefined) throw new Error('BatchNorm forward needs x');
  const { rows, cols } = channelsOf(inputs['x']);
  const yInfo = heap.makeOutput(inputs['x'].shape, 'float32');
  const statsInfo = heap.makeOutput([3, cols], 'float32');
  const [x, gamma, beta, movingMean, movingVariance] = views(heap, inputs, ['x', 'scale', 'offset', 'movingMean', 'movingVariance'], 'BatchNorm forward');
  const stats = heap.typedArrayFromHeap(statsInfo);
  const k = Float64Array.from(x!.subarray(0, cols));
  const sums = shiftedSums({ x: x!, rows, cols }, k);
  const decay = 1 - momentum;
  for (let c = 0; c < cols; c++) {
    const m = sums.a[c]! / rows;
    const mean = k[c]! + m;
    const variance = Math.max(sums.b[c]! / rows - m * m, 0);
    stats[c] = mean;
    stats[cols + c] = variance;
    stats[2 * cols + c] = gamma![c]! / Math.sqrt(variance + varianceEpsilon);
    movingMean![c] = movingMean![c]! - (movingMean![c]! - mean) * decay;
    movingVariance![c] = movingVariance![c]! - (movingVariance![c]! - variance) * decay;
  }
  normalise({ x: x!, rows, cols, mean: stats.subarray(0, cols), scale: stats.subarray(2 * cols), beta: beta! }, activation, heap.typedArrayFromHeap(yInfo));
  return [yInfo, statsInfo];
};

// dx = g d + b x + e per channel, d = dy masked by the activation: g = gamma rstd,
// b = -g rstd^2 sum(d (x - mean)) / N, e = -g sum(d) / N - b mean; dgamma = sum(d (x - mean)) rstd, dbeta = sum(d).
const bnTrainingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const heap = heapOf(backend);
  const { varianceEpsilon, activation } = attrs as unknown as BatchNormAttrs;
  const mask = maskOf(activation);
  if (inputs['x'] === undefined) throw new Error('BatchNorm gradient needs x');
  const { rows, cols } = channelsOf(inputs['x']);
  const dxInfo = heap.makeOutput(inputs['x'].shape, 'float32');
  const dscaleInfo = heap.makeOutput([cols], 'float32');
  const doffsetInfo = heap.makeOutput([cols], 'float32');
  const [x, dy, stats, gamma] = views(heap, inputs, ['x', 'dy', 'stats', 'scale'], 'BatchNorm gradient');
  // beta only recomputes y for the mask.
  const beta = mask.masked ? views(heap, inputs, ['offset'], 'BatchNorm gradient with an activation')[0]! : new Float32Array(cols);
  const normalised: Normalised = { x: x!, rows, cols, mean: stats!.subarray(0, cols), scale: stats!.subarray(2 * cols), beta };
  const variance = stats!.subarray(cols, 2 * cols);
  const sums = gradientSums(normalised, dy!, mask);
  const coefficients = { g: new Float64Array(cols), b: new Float64Array(cols), e: new Float64Array(cols) };
  const dscale = heap.typedArrayFromHeap(dscaleInfo);
  const doffset = heap.typedArrayFromHeap(doffsetInfo);
  for (let c = 0; c < cols; c++) {
    const rstd = 1 / Math.sqrt(variance[c]! + varianceEpsilon);
    const g = gamma![c]! * rstd;
    const b = -g * rstd * rstd * sums.b[c]! / rows;
    coefficients.g[c] = g;
    coefficients.b[c] = b;
    coefficients.e[c] = -g * sums.a[c]! / rows - b * normalised.mean[c]!;
    dscale[c] = sums.b[c]! * rstd;
    doffset[c] = sums.a[c]!;
  }
  inputGradient(normalised, dy!, mask, coefficients, heap.typedArrayFromHeap(dxInfo));
  return [dxInfo, dscaleInfo, doffsetInfo];
};

/**
 * The op on wasm: every float32 input. A moving statistic whose data a tensor shares (after an
 * assign: wasm's clones copy) gets data of its own before it is written.
 */
export const WASM_BATCHNORM: TrainingBatchNorm = {
  forward: bnForward,
  gradient: bnTrainingGrad,
  writable(variable) {
    if (heapOf(tf.backend()).refCount(variable.dataId) > 1) {
      const own = tf.tensor(variable.dataSync(), variable.shape, variable.dtype);
      variable.assign(own);
      own.dispose();
    }
    // Caches keyed by data ids (folded weights) must see the new values.
    noteWriteInPlace(variable);
    return variable;
  },
  takes: () => true,
};
