/**
 * A residual block's sum and the ReLU after it as one op, for tf.layers' Add on webgpu in training.
 *
 * ResNet50's 16 blocks each end in add(shortcut, branch) and a ReLU: two passes forward (the sum
 * written, read again and written again) and the ReLU keeping the sum for its gradient. An Add
 * layer marked to apply the ReLU after it (fold-batchnorm.ts, `fuseActivationsForTraining`)
 * instead writes relu(a + b) in one pass. Its gradient masks dy where the output is not positive
 * (the output says where the sum was, so nothing else is kept) and gives that to both inputs, as
 * an add's gradient gives dy to both. The ReLU layer then passes the marked output through.
 */
import * as tf from '@tensorflow/tfjs';
import { ADD_RELU, activationAfter, markActivated } from '../fused-activation.ts';
import { MASK_GRAD } from './activation-grads.ts';
import { FlatProgram, inFours, lit, runProgram, swapMethod, webgpuBackendOf } from './backend.ts';

class AddReluProgram extends FlatProgram {
  readonly variableNames = ['a', 'b'];
  readonly uniforms = '';
  readonly shaderKey: string;

  /** Four values an invocation where the size allows (vec4 loads; the pass is memory-bound). */
  constructor(outputShape: readonly number[], private readonly vec4 = inFours(outputShape)) {
    super(outputShape, vec4 ? 2 : undefined);
    this.shaderKey = `tlAddRelu${vec4 ? '_v4' : ''}`;
  }

  protected body(): string {
    const z = lit('0.0', this.vec4);
    return `
        let s = a[index] + b[index];
        result[index] = select(s, ${z}, s < ${z});`;
  }
}

/** Kernel function of ADD_RELU. */
export const addRelu: tf.KernelFunc = ({ inputs, backend }) => {
  const { a, b } = inputs;
  if (a === undefined || b === undefined || a.shape.join() !== b.shape.join()) throw new Error(`${ADD_RELU} needs a and b of one shape`);
  return runProgram(webgpuBackendOf(backend), new AddReluProgram(a.shape), [a, b], []);
};

/** relu(a + b), differentiable: dy masked where the output is not positive, to both inputs. */
function addReluOp(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const op = tf.customGrad(((x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
    const value = tf.engine().runKernel(ADD_RELU, { a: x, b: y }) as tf.Tensor;
    save([value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const masked = tf.engine().runKernel(MASK_GRAD, { dy, x: saved[0]! }, { mode: 'relu', lo: 0, hi: 0 }) as tf.Tensor;
        return [masked, masked.clone()];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(a, b);
}

/** The parts of tf.layers' Add this reads. */
type AddCall = (this: object, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** Whether the fused op takes this call: marked for a ReLU, training, on webgpu, two float32 inputs of one shape. */
function fusedTakes(layer: object, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown> | undefined): inputs is [tf.Tensor, tf.Tensor] {
  if (activationAfter(layer) !== 'relu' || kwargs?.['training'] !== true || tf.getBackend() !== 'webgpu') return false;
  if (!Array.isArray(inputs) || inputs.length !== 2) return false;
  const [a, b] = inputs;
  return a!.dtype === 'float32' && b!.dtype === 'float32' && a!.size > 0 && a!.shape.join() === b!.shape.join();
}

let restoreCall: (() => void) | undefined;

/**
 * Puts the fused op in tf.layers' Add for marked training calls on webgpu (every other call goes to
 * the layer's own); `restoreAddLayer` puts it back. The ReLU layer's pass-through is
 * ../batchnorm-training.ts's, shared with the fused BatchNorms.
 */
export function patchAddLayer(): void {
  if (restoreCall !== undefined) return;
  const prototype = Object.getPrototypeOf(tf.layers.add({})) as { call: AddCall };
  restoreCall = swapMethod(prototype, 'call', (own, active) =>
    function (this: object, inputs, kwargs) {
      if (!active() || !fusedTakes(this, inputs, kwargs)) return own.call(this, inputs, kwargs);
      const y = tf.tidy(() => addReluOp(inputs[0], inputs[1]));
      markActivated(y, 'relu');
      return y;
    },
  );
}

/** Restores tf.layers' own Add call. */
export function restoreAddLayer(): void {
  restoreCall?.();
  restoreCall = undefined;
}
