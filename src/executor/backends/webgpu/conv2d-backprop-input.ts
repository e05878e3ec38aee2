/**
 * Conv2DBackpropInput as an implicit GEMM. With dx seen as a matrix dX[m = (b, ih, iw), n = ci]
 * (its own row-major layout), it is
 *   dX = sum over k = (fh, fw, co) of dY(m, k) * W(k, n)
 * where W(k, n) = w[fh, fw, ci = n, co] and dY(m, k) = dy[b, oh, ow, co] for the output position
 * that tap (fh, fw) of (ih, iw) came from: oh = (ih + padT - fh*dh) / sh when that divides exactly
 * and lies in the output, zero otherwise. The same kernel serves conv2dTranspose.
 */
import * as tf from '@tensorflow/tfjs';
import { webgpuBackendOf } from './backend.ts';
import { gemmFits, runGemm, type GemmSource } from './gemm.ts';

const SOURCE: GemmSource = {
  key: 'conv2dInputGrad',
  inputs: ['dy', 'w'],
  uniforms: 'inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, strideH : i32, strideW : i32, dilH : i32, dilW : i32, padT : i32, padL : i32, filterW : i32,',
  // Both operands are contiguous along k = (fh, fw, co) (co is innermost in dy and in w), so
  // loaders walk k: this invocation loads k-column li % 16 of both tiles for tile rows
  // li / 16 + 16 r. Those four dx positions m are fixed: decoded once here.
  setup: `
    let kk = li % 16;
    let row0 = li / 16;
    let inHW = uniforms.inH * uniforms.inW;
    var aBase : array<i32, 4>;
    var aH : array<i32, 4>;
    var aW : array<i32, 4>;
    var aOk : array<bool, 4>;
    for (var r = 0; r < 4; r++) {
      let m = tileM + row0 + 16 * r;
      let bi = m / inHW;
      let p = m - bi * inHW;
      let ih = p / uniforms.inW;
      aBase[r] = bi * uniforms.outH;
      aH[r] = ih + uniforms.padT;
      aW[r] = p - ih * uniforms.inW + uniforms.padL;
      aOk[r] = m < uniforms.M;
    }
    let kwc = uniforms.filterW * uniforms.outC;`,
  load: `
    let k = k0 + kk;
    let kIn = k < kEnd;
    let fh = k / kwc;
    let fr = k - fh * kwc;
    let fw = fr / uniforms.outC;
    let co = fr - fw * uniforms.outC;
    for (var r = 0; r < 4; r++) {
      let mm = row0 + 16 * r;
      let th = aH[r] - fh * uniforms.dilH;
      let tw = aW[r] - fw * uniforms.dilW;
      var av = 0.0;
      if (kIn && aOk[r] && th >= 0 && tw >= 0 && th % uniforms.strideH == 0 && tw % uniforms.strideW == 0) {
        let oh = th / uniforms.strideH;
        let ow = tw / uniforms.strideW;
        if (oh < uniforms.outH && ow < uniforms.outW) {
          av = dy[((aBase[r] + oh) * uniforms.outW + ow) * uniforms.outC + co];
        }
      }
      storeA(kk, mm, av);
      let n = tileN + mm;
      var bv = 0.0;
      if (kIn && n < uniforms.N) {
        bv = w[((fh * uniforms.filterW + fw) * uniforms.inC + n) * uniforms.outC + co];
      }
      storeB(kk, mm, bv);
    }`,
};

/** The Conv2DBackpropInput kernel for float32 NHWC; anything else goes to `fallback`. */
export function makeConv2DBackpropInput(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs;
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropInputAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
    if (dy === undefined || filter === undefined || format !== 'channelsLast' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, format,
    );
    const m = info.batchSize * info.inHeight * info.inWidth;
    const n = info.inChannels;
    const k = info.filterHeight * info.filterWidth * info.outChannels;
    if (!gemmFits(m, n) || m === 0) return fallback(args);
    const i32 = (v: number) => ({ type: 'int32' as const, data: [v] });
    return runGemm(webgpuBackendOf(args.backend), SOURCE, { m, n, k }, [dy, filter], [
      i32(info.inHeight), i32(info.inWidth), i32(info.inChannels), i32(info.outHeight), i32(info.outWidth), i32(info.outChannels),
      i32(info.strideHeight), i32(info.strideWidth), i32(info.dilationHeight), i32(info.dilationWidth),
      i32(info.padInfo.top), i32(info.padInfo.left), i32(info.filterWidth),
    ], info.inShape);
  };
}
