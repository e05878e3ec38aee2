/**
 * Training-mode BatchNorm as one differentiable op, for tf.layers' BatchNormalization on webgpu.
 *
 * tfjs-layers normalises a batch in training mode with moments (Mean, Sub, Square, Mean) and
 * FusedBatchNorm, and autodiff then runs back through all of them: about 40 dispatches and 25
 * passes over the activations per layer and step (counted with tf.profile; docs/benchmarks-gpu.md).
 * Here the forward pass is one pass for the statistics and one to normalise, and the backward pass
 * is the closed form
 *   dx = g dy - g/N sum(dy) - g rstd^2/N sum(dy (x - mean)) (x - mean),   g = gamma rstd,
 * in one pass for the two sums and one for dx: four passes and about ten dispatches.
 */
import * as tf from '@tensorflow/tfjs';
import { release, runProgram, sizeOf, webgpuBackendOf } from './backend.ts';
import { ChannelAffineProgram, ChannelProgram, pairSums, perChannel, type ChannelConstants } from './batchnorm-programs.ts';
import { columnsFit } from './reduce-programs.ts';

/** x `[..., C]` to its batch mean and (biased) variance over all but the last axis, `[C]` each. */
export const BN_MOMENTS = 'TLBatchNormMoments';
/** {x, dy, mean, variance, scale}, attr varianceEpsilon, to [dx, dscale, doffset]. */
export const BN_TRAINING_GRAD = 'TLBatchNormTrainingGrad';
/** {moving, batch}, attr momentum, to moving - (moving - batch) * (1 - momentum), as tfjs-layers updates. */
export const BN_MOVING_AVERAGE = 'TLBatchNormMovingAverage';

function channelsOf(x: tf.TensorInfo): { rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return { rows: sizeOf(x.shape) / cols, cols };
}

/** Kernel function of BN_MOMENTS: shifted sums in one pass, then the mean and the variance. */
export const bnMoments: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs;
  if (x === undefined) throw new Error(`${BN_MOMENTS} needs x`);
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  const sums = pairSums(gpu, 'moments', [x], rows, cols);
  const k: ChannelConstants = { rows, cols, epsilon: 0 };
  const mean = perChannel(gpu, new ChannelProgram('tlBnMean', ['s', 'x'], '', ['x[c] + s[c] * uniforms.inv'], cols), [sums, x], k);
  const variance = perChannel(
    gpu,
    new ChannelProgram('tlBnVariance', ['s'], 'let m = s[c] * uniforms.inv;', ['max(s[uniforms.cols + c] * uniforms.inv - m * m, 0.0)'], cols),
    [sums],
    k,
  );
  release(gpu, sums);
  return [mean, variance];
};

/** Kernel function of BN_TRAINING_GRAD: the two gradient sums, then dx, dgamma and dbeta. */
export const bnTrainingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy, mean, variance, scale } = inputs;
  if (x === undefined || dy === undefined || mean === undefined || variance === undefined || scale === undefined) {
    throw new Error(`${BN_TRAINING_GRAD} needs x, dy, mean, variance and scale`);
  }
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  const k: ChannelConstants = { rows, cols, epsilon: (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon };
  const sums = pairSums(gpu, 'gradient', [x, dy, mean], rows, cols);
  // dx = a dy + b x + d per channel: a = g, b = -g rstd^2 sumDyXc / N, d = -g sumDy / N - b mean.
  const coef = perChannel(
    gpu,
    new ChannelProgram(
      'tlBnInputGradCoef',
      ['s', 'mean', 'variance', 'scale'],
      'let r = inverseSqrt(variance[c] + uniforms.eps); let g = scale[c] * r; let b = -g * r * r * uniforms.inv * s[uniforms.cols + c];',
      ['g', 'b', '-g * uniforms.inv * s[c] - b * mean[c]'],
      cols,
    ),
    [sums, mean, variance, scale],
    k,
  );
  const dx = runProgram(gpu, new ChannelAffineProgram(x.shape), [dy, x, coef], [{ type: 'int32', data: [cols] }]);
  const dscale = perChannel(gpu, new ChannelProgram('tlBnScaleGrad', ['s', 'variance'], '', ['s[uniforms.cols + c] * inverseSqrt(variance[c] + uniforms.eps)'], cols), [sums, variance], k);
  const doffset = perChannel(gpu, new ChannelProgram('tlBnOffsetGrad', ['s'], '', ['s[c]'], cols), [sums], k);
  release(gpu, sums);
  release(gpu, coef);
  return [dx, dscale, doffset];
};

/** Kernel function of BN_MOVING_AVERAGE: one dispatch, where tfjs-layers runs three and uploads a scalar. */
export const bnMovingAverage: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { moving, batch } = inputs;
  if (moving === undefined || batch === undefined) throw new Error(`${BN_MOVING_AVERAGE} needs moving and batch`);
  const cols = sizeOf(moving.shape);
  const decay = 1 - (attrs as unknown as { momentum: number }).momentum;
  const program = new ChannelProgram('tlBnMovingAverage', ['moving', 'batch'], '', ['moving[c] - (moving[c] - batch[c]) * uniforms.decay'], cols);
  return perChannel(webgpuBackendOf(backend), program, [moving, batch], { cols, rows: 1, epsilon: 0, decay });
};

/**
 * A training-mode BatchNorm over all but the last axis of `x`: the normalised output, whose
 * gradient is the closed form above, and the batch mean and variance (not differentiated; the
 * caller disposes them).
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let stats: tf.Tensor1D[] = [];
  const op = tf.customGrad(((xx: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    // Kernels run inside a custom gradient's forward pass are not recorded: only the op is.
    const [mean, variance] = tf.engine().runKernel(BN_MOMENTS, { x: xx }, {}) as tf.Tensor1D[];
    const value = tf.batchNorm(xx, mean!, variance!, beta, gamma, epsilon);
    save([xx, gamma, mean!, variance!]);
    stats = [tf.keep(mean!), tf.keep(variance!)];
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sgamma, smean, svariance] = saved;
        const inputs = { x: sx!, dy, mean: smean!, variance: svariance!, scale: sgamma! };
        return tf.engine().runKernel(BN_TRAINING_GRAD, inputs, { varianceEpsilon: epsilon }) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, scale, offset);
  const [mean, variance] = stats;
  if (mean === undefined || variance === undefined) throw new Error('batchNormTraining: the forward pass did not run');
  return { y, mean, variance };
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

/** The layer class's own `call`, while TL's is in its place. */
let stockCall: Call | undefined;

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

/** Updates a moving statistic as tfjs-layers does: v - (v - batch) * (1 - momentum). */
function movingAverage(variable: LayerVariable, batch: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    variable.write(tf.engine().runKernel(BN_MOVING_AVERAGE, { moving: variable.read(), batch }, { momentum }) as tf.Tensor);
  });
}

/**
 * Puts the fused op in tf.layers' BatchNormalization for training-mode calls on webgpu (every
 * other call goes to the layer's own); `restore` puts the layer's own back. Patching the class's
 * prototype reaches every layer, however it was built (the zoo, a loaded topology, a benchmark).
 */
export function patchBatchNormLayer(): void {
  if (stockCall !== undefined) return;
  const proto = layerPrototype();
  const stock = proto.call;
  stockCall = stock;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (stockCall === undefined || x === undefined || !fusedTakes(this, x, kwargs)) return stock.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x, this.gamma!.read() as tf.Tensor1D, this.beta!.read() as tf.Tensor1D, this.epsilon);
      movingAverage(this.movingMean, mean, this.momentum);
      movingAverage(this.movingVariance, variance, this.momentum);
      tf.dispose([mean, variance]);
      return y;
    });
  };
}

/** Restores tf.layers' own BatchNormalization call. */
export function restoreBatchNormLayer(): void {
  if (stockCall === undefined) return;
  layerPrototype().call = stockCall;
  stockCall = undefined;
}
