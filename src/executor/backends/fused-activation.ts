/**
 * Which BatchNorm and Add layers apply the activation layer after them themselves, in training
 * calls, on a backend that can (the BatchNorms: batchnorm-training.ts, on webgpu and wasm; the
 * Adds: webgpu/residual.ts).
 *
 * The executor marks the pairs it finds in the graph of a model about to train
 * (fold-batchnorm.ts, `fuseActivationsForTraining`). A marked BatchNorm whose call runs the fused
 * op returns its output already activated and says so (`markActivated`); the activation layer then
 * passes that input through instead of applying itself again. A BatchNorm that does not fuse (an
 * inference call, another backend, a case the op does not take) leaves its output unmarked and the
 * activation layer runs as usual: a mark changes where the activation is computed, never what.
 */

/**
 * The kernel that writes relu(a + b) in one pass ({a, b} of one shape; NaN stays NaN, as tfjs's
 * Relu): webgpu/residual.ts registers it on webgpu; where no backend has it, callers add and relu.
 */
export const ADD_RELU = 'TLAddRelu';

/**
 * The kernel that writes act(conv(x, filter) + bias + residual) in one pass ({x, filter, bias,
 * residual}, attributes as FusedConv2D's, activation 'linear' or 'relu'): webgpu/conv2d-forward.ts
 * registers it on webgpu, for the inference fold (fold-batchnorm.ts); where no backend has it,
 * the fold convolves, adds and applies the activation as separate ops.
 */
export const CONV_ADD = 'TLConv2DAdd';

/** The activations a fused BatchNorm applies: ReLU, and ReLU6 (as tf.layers' ReLU with maxValue 6). */
export type FusedActivation = 'relu' | 'relu6';

/** The parts of tfjs-layers' activation layers this reads (tfjs-layers 4.22). */
interface ActivationLayer {
  getClassName(): string;
  readonly maxValue?: number | null;
  readonly activation?: { getClassName(): string };
}

/** The activation an activation layer applies, if it is one a BatchNorm can fuse (also what the inference fold fuses into a convolution). */
export function activationOf(layer: ActivationLayer | undefined): FusedActivation | undefined {
  if (layer?.getClassName() === 'ReLU') return layer.maxValue == null ? 'relu' : layer.maxValue === 6 ? 'relu6' : undefined;
  if (layer?.getClassName() === 'Activation') {
    const name = layer.activation?.getClassName();
    return name === 'relu' || name === 'relu6' ? name : undefined;
  }
  return undefined;
}

const after = new WeakMap<object, FusedActivation>();
const activated = new WeakMap<object, FusedActivation>();

/** Marks `batchNorm` to apply `activation` (or, with undefined, not to). */
export function setActivationAfter(batchNorm: object, activation: FusedActivation | undefined): void {
  if (activation === undefined) after.delete(batchNorm);
  else after.set(batchNorm, activation);
}

/** The activation `batchNorm` is marked to apply in training calls, if any. */
export function activationAfter(batchNorm: object): FusedActivation | undefined {
  return after.get(batchNorm);
}

/** Records that `tensor` (a fused BatchNorm's output) has had `activation` applied. */
export function markActivated(tensor: object, activation: FusedActivation): void {
  activated.set(tensor, activation);
}

/** The activation already applied to `tensor` by a fused BatchNorm, if any. */
export function activationApplied(tensor: object): FusedActivation | undefined {
  return activated.get(tensor);
}
