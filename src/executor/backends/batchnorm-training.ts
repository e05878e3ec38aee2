/**
 * Training-mode BatchNorm as one differentiable op, for tf.layers' BatchNormalization, on every
 * backend that registers its two kernels (webgpu: webgpu/batchnorm-training.ts; wasm:
 * wasm-kernels/batchnorm.ts).
 *
 * tfjs-layers normalises a batch in training mode with moments (Mean, Sub, Square, Mean) and
 * FusedBatchNorm, and autodiff then runs back through all of them: about 40 kernels and 25 passes
 * over the activations per layer and step (counted with tf.profile; docs/benchmarks-gpu.md). Here
 * the forward kernel takes the batch's statistics in one pass over the activations (shifted sums:
 * x - k and its square, k the channel's first value, so the variance does not lose its digits to a
 * large mean), moves the moving statistics toward them in place, and normalises in a second; the
 * gradient is the closed form
 *   dx = g dy - g/N sum(dy) - g rstd^2/N sum(dy (x - mean)) (x - mean),   g = gamma rstd,
 * one pass for the two sums and one for dx: four passes over the activations a layer and step.
 *
 * A BatchNorm marked to apply the ReLU or ReLU6 layer after it (fused-activation.ts) writes the
 * activated output, and its gradient masks dy on the way in (y recomputed from x and the
 * statistics by the normalisation's own expression), so the activation layer passes its input
 * through: the activation's pass and its gradient's pass are gone.
 */
import * as tf from '@tensorflow/tfjs';
import { activationAfter, activationApplied, activationOf, markActivated, type FusedActivation } from './fused-activation.ts';
import { restoreKernel, setKernel, swapMethod } from './registry.ts';

/**
 * {x `[..., C]`, scale, offset, movingMean, movingVariance}, attrs {varianceEpsilon, momentum,
 * activation}, to [y, stats]: stats `[3, C]` holds the batch mean, the (biased) variance and
 * gamma rstd over all but the last axis; y has the activation ('linear', 'relu' or 'relu6')
 * applied. The moving statistics move toward the batch's in place, as tfjs-layers moves them,
 * m - (m - batch) * (1 - momentum): the caller makes their data writable (`writable` below).
 */
export const BN_FORWARD = 'TLBatchNormForward';
/** {x, dy, stats, scale, and offset with an activation}, attrs {varianceEpsilon, activation}, to [dx, dscale, doffset]. */
export const BN_TRAINING_GRAD = 'TLBatchNormTrainingGrad';

/** An activation applied after the normalisation, or none. */
export type Activation = 'linear' | FusedActivation;

/** The attributes of BN_FORWARD and BN_TRAINING_GRAD (momentum: BN_FORWARD's only). */
export interface BatchNormAttrs {
  readonly varianceEpsilon: number;
  readonly momentum: number;
  readonly activation?: Activation;
}

/** x `[..., C]` seen as `[rows, cols]`, cols its channels, as both kernels read it. */
export function channelsOf(x: tf.TensorInfo): { rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return { rows: tf.util.sizeFromShape(x.shape) / cols, cols };
}

/** What a backend brings to the op besides its two kernels. */
export interface TrainingBatchNorm {
  readonly forward: tf.KernelFunc;
  readonly gradient: tf.KernelFunc;
  /** Makes `variable`'s data its own to be written in place (a copy where it is shared) and returns it. */
  writable(variable: tf.Variable): tf.Variable;
  /** Whether the kernels take an input of this many channels. */
  takes(channels: number): boolean;
}

const backends = new Map<string, TrainingBatchNorm>();

/** Registers the op's kernels for `backendName`, and puts the op in tf.layers' BatchNormalization (once). */
export function registerTrainingBatchNorm(backendName: string, support: TrainingBatchNorm): void {
  if (backends.get(backendName) === support) return;
  setKernel(BN_FORWARD, backendName, support.forward);
  setKernel(BN_TRAINING_GRAD, backendName, support.gradient);
  backends.set(backendName, support);
  patchLayers();
}

/** Unregisters the op for `backendName`; once no backend has it, the layers' own calls are back. */
export function unregisterTrainingBatchNorm(backendName: string): void {
  if (!backends.delete(backendName)) return;
  for (const kernelName of [BN_FORWARD, BN_TRAINING_GRAD]) restoreKernel(kernelName, backendName);
  if (backends.size === 0) restoreLayers();
}

/**
 * Saves `tensors` for a custom gradient, all but the variables among them, and returns what gives
 * them back from what was saved. tfjs keeps a clone of each saved tensor, so that it outlives
 * whatever frees the tensor before the backward pass; a clone costs the engine a kernel, a tape
 * node and a disposal (472 of the 1,133 kernels of a MobileNetV2 training step on webgpu were such
 * clones, 208 of them the BatchNorms'). A variable needs none: nothing frees it, and nothing
 * writes it before the gradients are taken.
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
 * A training-mode BatchNorm over all but the last axis of `x`, then `activation`, on the active
 * backend (which must have the op registered): the output, whose gradient is the closed form above
 * (dy masked by the activation first). The moving statistics move toward the batch's in their own
 * data (the backend's `writable` gives each one first where it is shared).
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number, moving: MovingStatistics, activation: Activation = 'linear'): tf.Tensor {
  const support = backends.get(tf.getBackend());
  if (support === undefined) throw new Error(`the ${tf.getBackend()} backend has no training-mode BatchNorm op registered`);
  const movingMean = support.writable(moving.mean);
  const movingVariance = support.writable(moving.variance);
  const op = tf.customGrad(((xx: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    // Kernels run inside a custom gradient's forward pass are not recorded: only the op is.
    const inputs = { x: xx, scale: gamma, offset: beta, movingMean, movingVariance };
    const attrs: BatchNormAttrs = { varianceEpsilon: epsilon, momentum: moving.momentum, activation };
    const [value, stats] = tf.engine().runKernel(BN_FORWARD, inputs, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor2D];
    const restore = saveUnlessVariables(save, [xx, stats, gamma, beta]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sstats, sgamma, sbeta] = restore(saved);
        return tf.engine().runKernel(BN_TRAINING_GRAD, { x: sx!, dy, stats: sstats!, scale: sgamma!, offset: sbeta! }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, scale, offset);
}

/**
 * `x` normalised by its own batch's statistics (with gamma, beta and epsilon, no activation) and
 * those statistics, `[3, C]` as BN_FORWARD gives them (mean, biased variance, gamma rstd), in the
 * op's two passes where the active backend has it and it takes `x` (float32, channels last);
 * null where it does not. The moving statistics are inputs of the kernel but stay as they are: it
 * moves them with momentum 1, m - (m - batch) * 0.
 */
export function normaliseByBatch(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number, moving: Omit<MovingStatistics, 'momentum'>): [tf.Tensor, tf.Tensor2D] | null {
  const support = backends.get(tf.getBackend());
  const c = x.shape[x.rank - 1];
  if (support === undefined || x.dtype !== 'float32' || x.rank < 2 || x.size === 0 || c === undefined || !support.takes(c)) return null;
  const inputs = { x, scale, offset, movingMean: support.writable(moving.mean), movingVariance: support.writable(moving.variance) };
  const attrs: BatchNormAttrs = { varianceEpsilon: epsilon, momentum: 1, activation: 'linear' };
  return tf.engine().runKernel(BN_FORWARD, inputs, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor2D];
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

/** The `call` of an activation layer (tf.layers' Activation and ReLU). */
type ActivationCall = (this: Parameters<typeof activationOf>[0], inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** Puts the layer classes' own calls back, while the op's are in their place. */
let restoreCalls: (() => void) | undefined;

/** Whether the active backend's op takes this call: training, float32, per last-axis channel, with gamma and beta. */
function opTakes(layer: BatchNormLayer, x: tf.Tensor, kwargs: Record<string, unknown> | undefined): boolean {
  const support = backends.get(tf.getBackend());
  const c = x.shape[x.rank - 1];
  return support !== undefined && kwargs?.['training'] === true && x.dtype === 'float32' && x.rank >= 2 && x.size > 0
    && (layer.axis === -1 || layer.axis === x.rank - 1) && layer.gamma !== null && layer.beta !== null && c !== undefined && support.takes(c);
}

/**
 * Puts the op in tf.layers' BatchNormalization for the training-mode calls it takes (every other
 * call goes to the layer's own), with the activation after it where the layer is marked to apply
 * it, and makes the Activation and ReLU layers pass such an output through. Patching the classes'
 * prototypes reaches every layer, however it was built (the zoo, a loaded topology, a benchmark).
 */
function patchLayers(): void {
  if (restoreCalls !== undefined) return;
  const restores = [
    swapMethod(Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: Call }, 'call', (own, active) =>
      function (this: BatchNormLayer, inputs, kwargs) {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        if (!active() || x === undefined || !opTakes(this, x, kwargs)) return own.call(this, inputs, kwargs);
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
  restoreCalls = () => {
    for (const restore of restores) restore();
  };
}

function restoreLayers(): void {
  restoreCalls?.();
  restoreCalls = undefined;
}
