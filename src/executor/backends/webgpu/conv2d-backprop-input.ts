/**
 * Conv2DBackpropInput as an implicit GEMM. With dx seen as a matrix dX[m = (b, ih, iw), n = ci]
 * (its own row-major layout), it is
 *   dX = sum over k = (fh, fw, co) of dY(m, k) * W(k, n)
 * where W(k, n) = w[fh, fw, ci = n, co] and dY(m, k) = dy[b, oh, ow, co] for the output position
 * that tap (fh, fw) of (ih, iw) came from: oh = (ih + padT - fh*dh) / sh when that divides exactly
 * and lies in the output, zero otherwise. The same kernel serves conv2dTranspose.
 *
 * A 1x1 convolution with stride s > 1 (ResNet50's six downsampling convolutions) reaches only the
 * dx positions on the stride's grid, and the product above would spend (s^2 - 1) / s^2 of its work
 * on rows that are all zeros. There dx is the product over dy's own rows, [B x outH x outW, inC],
 * spread onto the grid by a second pass that writes the zeros.
 */
import * as tf from '@tensorflow/tfjs';
import { DECODE_NHWC, FlatProgram, release, runProgram, webgpuBackendOf, type Uniform } from './backend.ts';
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

/** dx from the product over dy's rows: compact[b, oh, ow, c] at (s oh, s ow), zero elsewhere. */
class StridedSpreadProgram extends FlatProgram {
  readonly variableNames = ['compact'];
  readonly uniforms = 'inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, strideH : i32, strideW : i32,';
  readonly shaderKey = 'tlStridedSpread';

  protected body(): string {
    return `${DECODE_NHWC}
        var v = 0.0;
        if (ih % uniforms.strideH == 0 && iw % uniforms.strideW == 0) {
          let oh = ih / uniforms.strideH;
          let ow = iw / uniforms.strideW;
          if (oh < uniforms.outH && ow < uniforms.outW) {
            v = compact[((bi * uniforms.outH + oh) * uniforms.outW + ow) * uniforms.inC + c];
          }
        }
        result[index] = v;`;
  }
}

type Geometry = Pick<tf.backend_util.Conv2DInfo, 'inHeight' | 'inWidth' | 'inChannels' | 'outHeight' | 'outWidth' | 'outChannels' | 'strideHeight' | 'strideWidth' | 'dilationHeight' | 'dilationWidth' | 'filterWidth'> & { readonly padTop: number; readonly padLeft: number };

function uniformsOf(g: Geometry): Uniform[] {
  const i32 = (v: number): Uniform => ({ type: 'int32', data: [v] });
  return [
    i32(g.inHeight), i32(g.inWidth), i32(g.inChannels), i32(g.outHeight), i32(g.outWidth), i32(g.outChannels),
    i32(g.strideHeight), i32(g.strideWidth), i32(g.dilationHeight), i32(g.dilationWidth), i32(g.padTop), i32(g.padLeft), i32(g.filterWidth),
  ];
}

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
    const backend = webgpuBackendOf(args.backend);
    const geometry: Geometry = { ...info, padTop: info.padInfo.top, padLeft: info.padInfo.left };
    const strided1x1 = info.filterHeight === 1 && info.filterWidth === 1 && (info.strideHeight > 1 || info.strideWidth > 1) && info.padInfo.top === 0 && info.padInfo.left === 0;
    if (!strided1x1) return runGemm(backend, SOURCE, { m, n, k }, [dy, filter], uniformsOf(geometry), info.inShape);
    // The product over dy's rows: the same kernel, seen as a stride-1 problem on dy's own grid.
    const grid = { ...geometry, inHeight: info.outHeight, inWidth: info.outWidth, strideHeight: 1, strideWidth: 1 };
    const compact = runGemm(backend, SOURCE, { m: info.batchSize * info.outHeight * info.outWidth, n, k }, [dy, filter], uniformsOf(grid), [info.batchSize, info.outHeight, info.outWidth, n]);
    const i32 = (v: number): Uniform => ({ type: 'int32', data: [v] });
    const dx = runProgram(backend, new StridedSpreadProgram(info.inShape), [compact], [
      i32(info.inHeight), i32(info.inWidth), i32(n), i32(info.outHeight), i32(info.outWidth), i32(info.strideHeight), i32(info.strideWidth),
    ]);
    release(backend, compact);
    return dx;
  };
}
