/**
 * Training-mode BatchNorm as one differentiable op, for tf.layers' BatchNormalization on webgpu.
 *
 * tfjs-layers normalises a batch in training mode with moments (Mean, Sub, Square, Mean) and
 * FusedBatchNorm, and autodiff then runs back through all of them: about 40 dispatches and 25
 * passes over the activations per layer and step (counted with tf.profile; docs/benchmarks-gpu.md).
 * Here the forward pass is one pass for the sums, one small per-channel dispatch for the statistics
 * and both moving averages, and one pass to normalise; the backward pass is the closed form
 *   dx = g dy - g/N sum(dy) - g rstd^2/N sum(dy (x - mean)) (x - mean),   g = gamma rstd,
 * in one pass for the two sums, one per-channel dispatch for dx's coefficients and the scale and
 * offset gradients, and one pass for dx: four passes over the activations and six dispatches a
 * layer and step.
 *
 * A BatchNorm marked to apply the ReLU or ReLU6 layer after it (backends/fused-activation.ts)
 * writes the activated output, and its gradient masks dy on the way in, so the activation layer
 * passes its input through: the activation's pass and its gradient's pass are gone.
 */
import * as tf from '@tensorflow/tfjs';
import { activationAfter, activationApplied, activationOf, markActivated } from '../fused-activation.ts';
import { release, runProgram, sizeOf, swapMethod, webgpuBackendOf } from './backend.ts';
import { writableInPlace } from './in-place.ts';
import { ChannelAffineProgram, channelProgram, NormalizeProgram, pairPartials, perChannel, SUM_CHUNKS, type Activation, type ChannelConstants } from './batchnorm-programs.ts';
import { columnsFit } from './reduce-programs.ts';

/**
 * {x `[..., C]`, scale, offset, movingMean, movingVariance}, attrs {varianceEpsilon, momentum,
 * activation}, to [y, stats]: stats `[3, C]` holds the batch mean, the (biased) variance and
 * gamma rstd over all but the last axis; y has the activation ('linear', 'relu' or 'relu6')
 * applied. The moving statistics move toward the batch's in place, as tfjs-layers moves them,
 * m - (m - batch) * (1 - momentum): the caller makes their buffers writable (in-place.ts).
 */
export const BN_FORWARD = 'TLBatchNormForward';
/** {x, dy, stats, scale, and offset with an activation}, attrs {varianceEpsilon, activation}, to [dx, dscale, doffset]. */
export const BN_TRAINING_GRAD = 'TLBatchNormTrainingGrad';

function channelsOf(x: tf.TensorInfo): { rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return { rows: sizeOf(x.shape) / cols, cols };
}

const STATISTICS = channelProgram(
  'tlBnStats',
  ['partial', 'x', 'gamma'],
  ['stats', 'movingMean', 'movingVariance'],
  `${SUM_CHUNKS}
  let m = sA * uniforms.inv;
  let mean = x[c] + m;
  let variance = max(sB * uniforms.inv - m * m, 0.0);
  stats[c] = mean;
  stats[uniforms.cols + c] = variance;
  stats[2 * uniforms.cols + c] = gamma[c] * inverseSqrt(variance + uniforms.eps);
  movingMean[c] = movingMean[c] - (movingMean[c] - mean) * uniforms.decay;
  movingVariance[c] = movingVariance[c] - (movingVariance[c] - variance) * uniforms.decay;`,
);

/** Kernel function of BN_FORWARD: shifted sums in one pass, the statistics with the moving averages (in place), the normalisation. */
export const bnForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, scale, offset, movingMean, movingVariance } = inputs;
  if (x === undefined || scale === undefined || offset === undefined || movingMean === undefined || movingVariance === undefined) {
    throw new Error(`${BN_FORWARD} needs x, scale, offset, movingMean and movingVariance`);
  }
  const { varianceEpsilon, momentum, activation = 'linear' } = attrs as unknown as { varianceEpsilon: number; momentum: number; activation?: Activation };
  const gpu = webgpuBackendOf(backend);
  const { rows, cols } = channelsOf(x);
  const { partial, chunks } = pairPartials(gpu, 'moments', [x], rows, cols);
  const k: ChannelConstants = { rows, cols, epsilon: varianceEpsilon, decay: 1 - momentum, chunks };
  const [stats] = perChannel(gpu, STATISTICS, [partial, x, scale], [[3, cols], movingMean, movingVariance], k);
  release(gpu, partial);
  const y = runProgram(gpu, new NormalizeProgram(x.shape, activation), [x, stats!, offset], [{ type: 'int32', data: [cols] }]);
  return [y, stats!];
};

// dx = a dy + b x + d per channel: a = g, b = -g rstd^2 sumDyXc / N, d = -g sumDy / N - b mean;
// dgamma = sum(dy (x - mean)) rstd, dbeta = sum(dy).
const GRADIENTS = channelProgram(
  'tlBnGradients',
  ['partial', 'stats', 'gamma'],
  ['coef', 'dscale', 'doffset'],
  `${SUM_CHUNKS}
  let r = inverseSqrt(stats[uniforms.cols + c] + uniforms.eps);
  let g = gamma[c] * r;
  let b = -g * r * r * uniforms.inv * sB;
  coef[c] = g;
  coef[uniforms.cols + c] = b;
  coef[2 * uniforms.cols + c] = -g * uniforms.inv * sA - b * stats[c];
  dscale[c] = sB * r;
  doffset[c] = sA;`,
);

/** Kernel function of BN_TRAINING_GRAD: the two gradient sums in one pass, then the per-channel values, then dx. */
export const bnTrainingGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy, stats, scale, offset } = inputs;
  const { varianceEpsilon, activation = 'linear' } = attrs as unknown as { varianceEpsilon: number; activation?: Activation };
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
  const dx = runProgram(gpu, new ChannelAffineProgram(x.shape, activation), [dy, x, coef!, ...masking], [{ type: 'int32', data: [cols] }]);
  release(gpu, coef!);
  return [dx, dscale!, doffset!];
};

/**
 * Saves `tensors` for a custom gradient, all but the variables among them, and returns what gives
 * them back from what was saved. tfjs keeps a clone of each saved tensor, so that it outlives
 * whatever frees the tensor before the backward pass; a clone is free on the GPU but costs the
 * engine a kernel, a tape node and a disposal (472 of the 1,133 kernels of a MobileNetV2 training
 * step were such clones, 208 of them the BatchNorms'). A variable needs none: nothing frees it,
 * and nothing writes it before the gradients are taken.
 */
function saveUnlessVariables(save: tf.GradSaveFunc, tensors: readonly tf.Tensor[]): (saved: readonly tf.Tensor[]) => tf.Tensor[] {
  save(tensors.filter((t) => !(t instanceof tf.Variable)));
  return (saved) => {
    let next = 0;
    return tensors.map((t) => (t instanceof tf.Variable ? t : saved[next++]!));
  };
}

/** A BatchNorm's moving statistics, which a training call moves in place, and how fast they follow the batch's. */
export interface MovingStatistics {
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
  readonly momentum: number;
}

/**
 * A training-mode BatchNorm over all but the last axis of `x`, then `activation`: the output, whose
 * gradient is the closed form above (dy masked by the activation first). The moving statistics
 * move toward the batch's in their own buffers (in-place.ts gives each one first where it is
 * shared or being read).
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number, moving: MovingStatistics, activation: Activation = 'linear'): tf.Tensor {
  const gpu = webgpuBackendOf(tf.backend());
  const movingMean = writableInPlace(gpu, moving.mean);
  const movingVariance = writableInPlace(gpu, moving.variance);
  const op = tf.customGrad(((xx: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    // Kernels run inside a custom gradient's forward pass are not recorded: only the op is.
    const inputs = { x: xx, scale: gamma, offset: beta, movingMean, movingVariance };
    const [value, stats] = tf.engine().runKernel(BN_FORWARD, inputs, { varianceEpsilon: epsilon, momentum: moving.momentum, activation }) as [tf.Tensor, tf.Tensor2D];
    const restore = saveUnlessVariables(save, [xx, stats, gamma, beta]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sstats, sgamma, sbeta] = restore(saved);
        return tf.engine().runKernel(BN_TRAINING_GRAD, { x: sx!, dy, stats: sstats!, scale: sgamma!, offset: sbeta! }, { varianceEpsilon: epsilon, activation }) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, scale, offset);
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

/** The `call` of an activation layer (tf.layers' Activation and ReLU). */
type ActivationCall = (this: Parameters<typeof activationOf>[0], inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/**
 * Puts the fused op in tf.layers' BatchNormalization for training-mode calls on webgpu (every
 * other call goes to the layer's own), with the activation after it where the layer is marked to
 * apply it, and makes the Activation and ReLU layers pass such an output through; `restore` puts
 * the layers' own calls back. Patching the classes' prototypes reaches every layer, however it was
 * built (the zoo, a loaded topology, a benchmark).
 */
export function patchBatchNormLayer(): void {
  if (restoreCall !== undefined) return;
  const restores = [
    swapMethod(layerPrototype(), 'call', (own, active) =>
      function (this: BatchNormLayer, inputs, kwargs) {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        if (!active() || x === undefined || !fusedTakes(this, x, kwargs)) return own.call(this, inputs, kwargs);
        const activation = activationAfter(this);
        const moving = { mean: this.movingMean.read() as tf.Variable, variance: this.movingVariance.read() as tf.Variable, momentum: this.momentum };
        const y = tf.tidy(() => batchNormTraining(x, this.gamma!.read() as tf.Tensor1D, this.beta!.read() as tf.Tensor1D, this.epsilon, moving, activation));
        if (activation !== undefined) markActivated(y, activation);
        return y;
      },
    ),
    ...[tf.layers.reLU(), tf.layers.activation({ activation: 'relu' })].map((probe) =>
      swapMethod(Object.getPrototypeOf(probe) as { call: ActivationCall }, 'call', (own, active) =>
        function (this: Parameters<typeof activationOf>[0], inputs, kwargs) {
          const x = Array.isArray(inputs) ? inputs[0] : inputs;
          const applied = x === undefined ? undefined : activationApplied(x);
          return active() && applied !== undefined && applied === activationOf(this) ? x!.clone() : own.call(this, inputs, kwargs);
        },
      ),
    ),
  ];
  restoreCall = () => {
    for (const restore of restores) restore();
  };
}

/** Restores tf.layers' own BatchNormalization, Activation and ReLU calls. */
export function restoreBatchNormLayer(): void {
  restoreCall?.();
  restoreCall = undefined;
}
