/**
 * Training-mode BatchNorm as one differentiable op, for tf.layers' BatchNormalization on webgpu.
 *
 * tfjs-layers normalises a batch in training mode with moments (Mean, Sub, Square, Mean) and
 * FusedBatchNorm, and autodiff then runs back through all of them: about 40 dispatches and 25
 * passes over the activations per layer and step (counted with tf.profile; docs/benchmarks-gpu.md).
 * Here the forward pass is one pass for the statistics and one to normalise, and the backward pass
 * is the closed form
 *   dx = g dy - g/N sum(dy) - g rstd^2/N sum(dy (x - mean)) (x - mean),   g = gamma rstd,
 * in one pass for the two sums and one for dx: four passes over the activations and nine
 * dispatches with the moving averages (the per-channel programs finish the sums' chunks).
 */
import * as tf from '@tensorflow/tfjs';
import { release, runProgram, sizeOf, swapMethod, webgpuBackendOf } from './backend.ts';
import { ChannelAffineProgram, ChannelProgram, NormalizeProgram, pairPartials, perChannel, SUM_CHUNKS, type ChannelConstants } from './batchnorm-programs.ts';
import { columnsFit } from './reduce-programs.ts';

/**
 * {x `[..., C]`, scale, offset}, attr varianceEpsilon, to [y, stats]: stats `[4, C]` holds the
 * batch mean, the (biased) variance, gamma rstd and beta, over all but the last axis.
 */
export const BN_FORWARD = 'TLBatchNormForward';
/** {x, dy, stats, scale}, attr varianceEpsilon, to [dx, dscale, doffset]. */
export const BN_TRAINING_GRAD = 'TLBatchNormTrainingGrad';
/**
 * {moving, stats}, attrs {momentum, row}: moving - (moving - stats[row]) * (1 - momentum), as
 * tfjs-layers updates its moving mean (row 0) and variance (row 1).
 */
export const BN_MOVING_AVERAGE = 'TLBatchNormMovingAverage';

function channelsOf(x: tf.TensorInfo): { rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return { rows: sizeOf(x.shape) / cols, cols };
}

function epsilonOf(attrs: unknown): number {
  return (attrs as tf.FusedBatchNormAttrs).varianceEpsilon;
}

/** Kernel function of BN_FORWARD: shifted sums in one pass, the statistics, the normalisation. */
export const bnForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, scale, offset } = inputs;
  if (x === undefined || scale === undefined || offset === undefined) throw new Error(`${BN_FORWARD} needs x, scale and offset`);
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  const { partial, chunks } = pairPartials(gpu, 'moments', [x], rows, cols);
  const stats = perChannel(
    gpu,
    new ChannelProgram(
      'tlBnStats',
      ['partial', 'x', 'gamma', 'beta'],
      `${SUM_CHUNKS}
        let m = sA * uniforms.inv;
        let mean = x[c] + m;
        let variance = max(sB * uniforms.inv - m * m, 0.0);`,
      ['mean', 'variance', 'gamma[c] * inverseSqrt(variance + uniforms.eps)', 'beta[c]'],
      cols,
    ),
    [partial, x, scale, offset],
    { rows, cols, epsilon: epsilonOf(attrs), chunks },
  );
  release(gpu, partial);
  const y = runProgram(gpu, new NormalizeProgram(x.shape), [x, stats], [{ type: 'int32', data: [cols] }]);
  return [y, stats];
};

/** Kernel function of BN_TRAINING_GRAD: the two gradient sums in one pass, then dx, dgamma and dbeta. */
export const bnTrainingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy, stats, scale } = inputs;
  if (x === undefined || dy === undefined || stats === undefined || scale === undefined) throw new Error(`${BN_TRAINING_GRAD} needs x, dy, stats and scale`);
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  // The gradient sums read the mean as their third input: row 0 of the statistics.
  const { partial, chunks } = pairPartials(gpu, 'gradient', [x, dy, stats], rows, cols);
  const k: ChannelConstants = { rows, cols, epsilon: epsilonOf(attrs), chunks };
  // dx = a dy + b x + d per channel: a = g, b = -g rstd^2 sumDyXc / N, d = -g sumDy / N - b mean.
  const coef = perChannel(
    gpu,
    new ChannelProgram(
      'tlBnInputGradCoef',
      ['partial', 'stats', 'gamma'],
      `${SUM_CHUNKS}
        let r = inverseSqrt(stats[uniforms.cols + c] + uniforms.eps);
        let g = gamma[c] * r;
        let b = -g * r * r * uniforms.inv * sB;`,
      ['g', 'b', '-g * uniforms.inv * sA - b * stats[c]'],
      cols,
    ),
    [partial, stats, scale],
    k,
  );
  const dx = runProgram(gpu, new ChannelAffineProgram(x.shape), [dy, x, coef], [{ type: 'int32', data: [cols] }]);
  const dscale = perChannel(gpu, new ChannelProgram('tlBnScaleGrad', ['partial', 'stats'], SUM_CHUNKS, ['sB * inverseSqrt(stats[uniforms.cols + c] + uniforms.eps)'], cols), [partial, stats], k);
  const doffset = perChannel(gpu, new ChannelProgram('tlBnOffsetGrad', ['partial'], SUM_CHUNKS, ['sA'], cols), [partial], k);
  release(gpu, partial);
  release(gpu, coef);
  return [dx, dscale, doffset];
};

/** Kernel function of BN_MOVING_AVERAGE: one dispatch, where tfjs-layers runs three and uploads a scalar. */
export const bnMovingAverage: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { moving, stats } = inputs;
  if (moving === undefined || stats === undefined) throw new Error(`${BN_MOVING_AVERAGE} needs moving and stats`);
  const cols = sizeOf(moving.shape);
  const { momentum, row } = attrs as unknown as { momentum: number; row: 0 | 1 };
  const program = new ChannelProgram(`tlBnMovingAverage_${row}`, ['moving', 'stats'], '', [`moving[c] - (moving[c] - stats[${row} * uniforms.cols + c]) * uniforms.decay`], cols);
  return perChannel(webgpuBackendOf(backend), program, [moving, stats], { cols, rows: 1, epsilon: 0, decay: 1 - momentum });
};

/**
 * A training-mode BatchNorm over all but the last axis of `x`: the normalised output, whose
 * gradient is the closed form above, and the batch statistics (BN_FORWARD's `[4, C]`; not
 * differentiated; the caller disposes them).
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): { y: tf.Tensor; stats: tf.Tensor2D } {
  let stats: tf.Tensor2D | undefined;
  const op = tf.customGrad(((xx: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    // Kernels run inside a custom gradient's forward pass are not recorded: only the op is.
    const [value, batchStats] = tf.engine().runKernel(BN_FORWARD, { x: xx, scale: gamma, offset: beta }, { varianceEpsilon: epsilon }) as [tf.Tensor, tf.Tensor2D];
    save([xx, gamma, batchStats]);
    stats = tf.keep(batchStats);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sgamma, sstats] = saved;
        return tf.engine().runKernel(BN_TRAINING_GRAD, { x: sx!, dy, stats: sstats!, scale: sgamma! }, { varianceEpsilon: epsilon }) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, scale, offset);
  if (stats === undefined) throw new Error('batchNormTraining: the forward pass did not run');
  return { y, stats };
}

/** The fields of tfjs-layers' BatchNormalization that its training-mode call reads and writes. */
interface LayerVariable {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}
interface BatchNormLayer {
  readonly axis: number;
  readonly epsilon: number;
  readonly momentum: number;
  readonly gamma: LayerVariable | null;
  readonly beta: LayerVariable | null;
  readonly movingMean: LayerVariable;
  readonly movingVariance: LayerVariable;
}
type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** Puts the layer class's own `call` back, while TL's is in its place. */
let restoreCall: (() => void) | undefined;

function layerPrototype(): { call: Call } {
  const probe = tf.layers.batchNormalization({});
  return Object.getPrototypeOf(probe) as { call: Call };
}

/** Whether the fused op takes this call: training, on webgpu, float32, per last-axis channel, with gamma and beta. */
function fusedTakes(layer: BatchNormLayer, x: tf.Tensor, kwargs: Record<string, unknown> | undefined): boolean {
  const c = x.shape[x.rank - 1];
  return kwargs?.['training'] === true && tf.getBackend() === 'webgpu' && x.dtype === 'float32' && x.rank >= 2 && x.size > 0
    && (layer.axis === -1 || layer.axis === x.rank - 1) && layer.gamma !== null && layer.beta !== null && c !== undefined && columnsFit(c);
}

/** Updates a moving statistic as tfjs-layers does: v - (v - batch) * (1 - momentum), batch = row `row` of `stats`. */
function movingAverage(variable: LayerVariable, stats: tf.Tensor, row: 0 | 1, momentum: number): void {
  tf.tidy(() => {
    variable.write(tf.engine().runKernel(BN_MOVING_AVERAGE, { moving: variable.read(), stats }, { momentum, row }) as tf.Tensor);
  });
}

/**
 * Puts the fused op in tf.layers' BatchNormalization for training-mode calls on webgpu (every
 * other call goes to the layer's own); `restore` puts the layer's own back. Patching the class's
 * prototype reaches every layer, however it was built (the zoo, a loaded topology, a benchmark).
 */
export function patchBatchNormLayer(): void {
  restoreCall ??= swapMethod(layerPrototype(), 'call', (own, active) =>
    function (this: BatchNormLayer, inputs, kwargs) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!active() || x === undefined || !fusedTakes(this, x, kwargs)) return own.call(this, inputs, kwargs);
      return tf.tidy(() => {
        const { y, stats } = batchNormTraining(x, this.gamma!.read() as tf.Tensor1D, this.beta!.read() as tf.Tensor1D, this.epsilon);
        movingAverage(this.movingMean, stats, 0, this.momentum);
        movingAverage(this.movingVariance, stats, 1, this.momentum);
        stats.dispose();
        return y;
      });
    },
  );
}

/** Restores tf.layers' own BatchNormalization call. */
export function restoreBatchNormLayer(): void {
  restoreCall?.();
  restoreCall = undefined;
}
