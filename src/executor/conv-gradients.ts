/**
 * A 2D convolution whose gradients are computed only where something needs them.
 *
 * tf.layers runs every conv2d through tf.fused.conv2d, whose gradient is a customGrad: one
 * function that computes every input's gradient at once, so the input's gradient is computed even
 * where no trainable weight lies below it. In a training step that is the first convolution's:
 * the image's gradient below the stem of ResNet50 and MobileNetV2 (in the first GPU run the 7x7
 * stem's input gradient took 5.8 ms of a 67 ms ResNet50 step, at 1.3 TFLOP/s: three channels),
 * or, after a frozen prefix, the gradient of its features. On a gradient tape, `conv2d` here runs
 * the FusedConv2D kernel itself, with a gradient registered for that kernel that gives each
 * input's gradient as its own function, as tfjs's Conv2D does: tfjs then computes only the
 * gradients on a path to what it differentiates. Values and gradients are those of
 * tf.fused.conv2d (the same kernels on the same tensors); off a tape it is tf.fused.conv2d.
 */
import * as tf from '@tensorflow/tfjs';

const FUSED_CONV2D = 'FusedConv2D';

/** A linear convolution with an optional per-channel bias, as tf.layers' Conv2D calls it (NHWC). */
export interface Conv2dArgs {
  readonly x: tf.Tensor4D;
  readonly filter: tf.Tensor4D;
  readonly bias?: tf.Tensor;
  readonly strides: [number, number];
  readonly pad: 'same' | 'valid' | tf.backend_util.ExplicitPadding;
  readonly dilations: [number, number] | number;
}

/** Whether tfjs is recording operations for a gradient (engine internals of tfjs-core 4.22). */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/** The gradient of FusedConv2D with a linear activation: each input's its own function. */
function registerGradient(): void {
  if (tf.getGradient(FUSED_CONV2D) !== undefined) return;
  tf.registerGradient({
    kernelName: FUSED_CONV2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dimRoundingMode } = attrs as unknown as tf.FusedConv2DAttrs;
      const conv = { strides, pad, dataFormat: 'NHWC', dimRoundingMode } as unknown as tf.NamedAttrMap;
      const d = dy as tf.Tensor4D;
      // Filter before bias: on webgpu the filter gradient's pass also sums dy, which the bias's Sum then takes.
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: d, filter }, { ...conv, inputShape: x.shape }) as tf.Tensor,
        filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: d }, { ...conv, filterShape: filter.shape }) as tf.Tensor,
        bias: () => tf.sum(d, [0, 1, 2]),
      };
    },
  });
}

/** Whether the kernel's gradient above takes these arguments: tfjs computes no convolution gradient with dilations. */
function taken(args: Conv2dArgs): boolean {
  const d = args.dilations;
  return typeof d === 'number' ? d === 1 : d[0] === 1 && d[1] === 1;
}

/** tf.fused.conv2d(args), with only the gradients something needs where a gradient is being recorded. */
export function conv2d(args: Conv2dArgs): tf.Tensor4D {
  if (!recordingGradients() || !taken(args)) return tf.fused.conv2d(args);
  registerGradient();
  const inputs = { x: args.x, filter: args.filter, ...(args.bias !== undefined && { bias: args.bias }) };
  const attrs = { strides: args.strides, pad: args.pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined, activation: 'linear', leakyreluAlpha: undefined };
  return tf.engine().runKernel(FUSED_CONV2D, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
