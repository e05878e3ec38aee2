/**
 * Input gradients as stride-1 convolutions of the zero-dilated output gradient with the flipped
 * filter, so XNNPACK does the work. The shipped wasm Conv2DBackpropInput is a scalar C++ loop,
 * 2-4x slower than this (bench/wasm-kernels.ts); this one costs about a forward convolution,
 * times stride^2 for the zeros between gradient rows and columns.
 */
import * as tf from '@tensorflow/tfjs';
import { opKernel } from './kernel-adapter.ts';
import { convAdjoint, depthwiseAdjoint, geometryOf } from './windows.ts';

export const conv2DBackpropInput = opKernel(['dy', 'filter'], ({ dy, filter }, attrs: tf.Conv2DBackpropInputAttrs) => {
  const format = attrs.dataFormat ?? 'NHWC';
  const w = filter as tf.Tensor4D;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    w.shape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(format),
  );
  const nchw = format === 'NCHW';
  const dyNHWC = nchw ? tf.transpose(dy as tf.Tensor4D, [0, 2, 3, 1]) : (dy as tf.Tensor4D);
  const dx = convAdjoint(dyNHWC, w, geometryOf(info, dyNHWC.shape));
  return nchw ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
});

export const depthwiseConv2dNativeBackpropInput = opKernel(['dy', 'filter'], ({ dy, filter }, attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs) => {
  const w = filter as tf.Tensor4D;
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, w.shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  return depthwiseAdjoint(dy as tf.Tensor4D, w, geometryOf(info, dy.shape));
});
