/**
 * DepthwiseConv2dNativeBackpropInput: for each input element (b, ih, iw, c),
 *   dx = sum over taps (fh, fw) and q of dy[b, oh, ow, c*Q + q] * w[fh, fw, c, q]
 * for the output positions the tap came from: oh = (ih + padT - fh*dh) / sh when that divides
 * exactly and lies in the output. One invocation per dx element; neighbours take neighbouring
 * channels, so reads of dy and w coalesce. Integer arithmetic throughout (tfjs's kernel tests
 * divisibility in f32) and dilation honoured (tfjs's kernel ignores it).
 *
 * Where each channel has one filter (MobileNetV2's, all of them) and channels come in fours, one
 * invocation takes four neighbouring channels as a vec4, with the strides, dilations and filter size
 * compiled in, so that the tap loops unroll and their divisions are by constants. On the H200
 * (2026-11-30) the scalar program took 5.4 ms of a MobileNetV2 step, twice tfjs's vec4 kernel: its
 * time went to integer divisions by uniforms, about 24 an element for 9 multiply-adds.
 */
import * as tf from '@tensorflow/tfjs';
import { DECODE_NHWC, decodeNhwc, FlatProgram, i32, runProgram, sizeOf, tapsOf, webgpuBackendOf, type Taps } from './backend.ts';

class DepthwiseInputGradProgram extends FlatProgram {
  readonly variableNames = ['dy', 'w'];
  readonly uniforms = 'inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, chanMul : i32, strideH : i32, strideW : i32, dilH : i32, dilW : i32, padT : i32, padL : i32, filterH : i32, filterW : i32,';
  readonly shaderKey = 'tlDepthwiseInputGrad';

  protected body(): string {
    return `${DECODE_NHWC}
        var acc = 0.0;
        for (var fh = 0; fh < uniforms.filterH; fh++) {
          let th = ih + uniforms.padT - fh * uniforms.dilH;
          if (th < 0 || th % uniforms.strideH != 0 || th / uniforms.strideH >= uniforms.outH) {
            continue;
          }
          let oh = th / uniforms.strideH;
          for (var fw = 0; fw < uniforms.filterW; fw++) {
            let tw = iw + uniforms.padL - fw * uniforms.dilW;
            if (tw < 0 || tw % uniforms.strideW != 0 || tw / uniforms.strideW >= uniforms.outW) {
              continue;
            }
            let ow = tw / uniforms.strideW;
            let dyBase = ((bi * uniforms.outH + oh) * uniforms.outW + ow) * uniforms.outC + c * uniforms.chanMul;
            let wBase = ((fh * uniforms.filterW + fw) * uniforms.inC + c) * uniforms.chanMul;
            for (var q = 0; q < uniforms.chanMul; q++) {
              acc += dy[dyBase + q] * w[wBase + q];
            }
          }
        }
        result[index] = acc;`;
  }
}


class DepthwiseInputGradVec4Program extends FlatProgram {
  readonly variableNames = ['dy', 'w'];
  readonly uniforms = 'inH : i32, inW : i32, inC4 : i32, outH : i32, outW : i32, padT : i32, padL : i32,';
  readonly shaderKey: string;

  constructor(outputShape: readonly number[], private readonly taps: Taps) {
    super(outputShape, 2);
    this.shaderKey = `tlDepthwiseInputGrad4_${Object.values(taps).join('_')}`;
  }

  protected body(): string {
    const { strideH, strideW, dilH, dilW, filterH, filterW } = this.taps;
    return `${decodeNhwc('inH', 'inW', 'inC4', 'c4')}
        var acc = vec4<f32>(0.0);
        for (var fh = 0; fh < ${filterH}; fh++) {
          let th = ih + uniforms.padT - fh * ${dilH};
          if (th < 0 || th % ${strideH} != 0 || th / ${strideH} >= uniforms.outH) {
            continue;
          }
          let row = (bi * uniforms.outH + th / ${strideH}) * uniforms.outW;
          for (var fw = 0; fw < ${filterW}; fw++) {
            let tw = iw + uniforms.padL - fw * ${dilW};
            if (tw < 0 || tw % ${strideW} != 0 || tw / ${strideW} >= uniforms.outW) {
              continue;
            }
            acc += dy[(row + tw / ${strideW}) * uniforms.inC4 + c4] * w[(fh * ${filterW} + fw) * uniforms.inC4 + c4];
          }
        }
        result[index] = acc;`;
  }
}

/** The DepthwiseConv2dNativeBackpropInput kernel for float32 NHWC; anything else goes to `fallback`. */
export function makeDepthwiseBackpropInput(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs;
    const attrs = (args.attrs ?? {}) as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    if (dy === undefined || filter === undefined || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true,
    );
    if (sizeOf(info.inShape) === 0) return fallback(args);
    if (info.outChannels === info.inChannels && info.inChannels % 4 === 0) {
      return runProgram(webgpuBackendOf(args.backend), new DepthwiseInputGradVec4Program(info.inShape, tapsOf(info)), [dy, filter], [
        i32(info.inHeight), i32(info.inWidth), i32(info.inChannels / 4), i32(info.outHeight), i32(info.outWidth), i32(info.padInfo.top), i32(info.padInfo.left),
      ]);
    }
    return runProgram(webgpuBackendOf(args.backend), new DepthwiseInputGradProgram(info.inShape), [dy, filter], [
      i32(info.inHeight), i32(info.inWidth), i32(info.inChannels), i32(info.outHeight), i32(info.outWidth), i32(info.outChannels),
      i32(info.outChannels / info.inChannels), i32(info.strideHeight), i32(info.strideWidth), i32(info.dilationHeight), i32(info.dilationWidth),
      i32(info.padInfo.top), i32(info.padInfo.left), i32(info.filterHeight), i32(info.filterWidth),
    ]);
  };
}
