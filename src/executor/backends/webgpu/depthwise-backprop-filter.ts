/**
 * DepthwiseConv2dNativeBackpropFilter: for each filter tap (fh, fw) and output channel d = c*Q + q,
 *   dW[fh, fw, c, q] = sum over (b, oh, ow) of x[b, oh*sh + fh*dh - padT, ow*sw + fw*dw - padL, c] * dy[b, oh, ow, d]
 * A few thousand outputs, each a sum over the whole batch: tfjs 4.22 gave each output one thread.
 * Here the output rows (b, oh) are cut into chunks, one workgroup per (channel block, chunk, tap),
 * and the column-sum program adds the chunks' partials. Dilation is honoured (tfjs's own kernel
 * ignores it).
 */
import * as tf from '@tensorflow/tfjs';
import { groups, MAX_DISPATCH, release, runProgram, webgpuBackendOf, type WebGPUProgram } from './backend.ts';
import { chunkCount, sumColumns } from './reduce-programs.ts';

/**
 * Workgroup: 64 output channels (x) by 4 row lanes (y); workgroup (cx, s, tap) takes the output rows
 * of chunk s, each lane every 4th row, all columns of the row. Neighbours read neighbouring channels
 * of dy (and of x when Q = 1), so reads coalesce. The lanes meet in workgroup memory and lane 0
 * writes partial[s, tap, d]; as a matrix [S, taps * C * Q] whose columns are the filter's layout.
 */
class DepthwiseFilterGradProgram implements WebGPUProgram {
  readonly variableNames = ['x', 'dy'];
  readonly uniforms = 'rows : i32, chunk : i32, taps : i32, inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, chanMul : i32, strideH : i32, strideW : i32, dilH : i32, dilW : i32, padT : i32, padL : i32, filterW : i32,';
  readonly workgroupSize: [number, number, number] = [64, 4, 1];
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  shaderKey = 'tlDepthwiseFilterGrad';

  constructor(outC: number, chunks: number, taps: number, outputShape: readonly number[]) {
    this.dispatch = [groups(outC, 64), chunks, taps];
    this.outputShape = [...outputShape];
  }

  getUserCode(): string {
    return `
      var<workgroup> lanes : array<f32, 256>;

      fn main() {
        let d = i32(workgroupId.x) * 64 + i32(localId.x);
        let s = i32(workgroupId.y);
        let tap = i32(workgroupId.z);
        let fh = tap / uniforms.filterW;
        let fw = tap - fh * uniforms.filterW;
        let c = d / uniforms.chanMul;
        let offH = fh * uniforms.dilH - uniforms.padT;
        let offW = fw * uniforms.dilW - uniforms.padL;
        let first = s * uniforms.chunk;
        let last = min(uniforms.rows, first + uniforms.chunk);
        var acc = 0.0;
        if (d < uniforms.outC) {
          for (var row = first + i32(localId.y); row < last; row += 4) {
            let bi = row / uniforms.outH;
            let oh = row - bi * uniforms.outH;
            let ih = oh * uniforms.strideH + offH;
            if (ih < 0 || ih >= uniforms.inH) {
              continue;
            }
            let xRow = (bi * uniforms.inH + ih) * uniforms.inW;
            let dyRow = row * uniforms.outW;
            for (var ow = 0; ow < uniforms.outW; ow++) {
              let iw = ow * uniforms.strideW + offW;
              if (iw >= 0 && iw < uniforms.inW) {
                acc += x[(xRow + iw) * uniforms.inC + c] * dy[(dyRow + ow) * uniforms.outC + d];
              }
            }
          }
        }
        lanes[localIndex] = acc;
        workgroupBarrier();
        if (localId.y == 0u && d < uniforms.outC) {
          let l = localId.x;
          result[(s * uniforms.taps + tap) * uniforms.outC + d] = lanes[l] + lanes[l + 64u] + lanes[l + 128u] + lanes[l + 192u];
        }
      }`;
  }
}

/** The DepthwiseConv2dNativeBackpropFilter kernel for float32 NHWC; anything else goes to `fallback`. */
export function makeDepthwiseBackpropFilter(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs;
    const attrs = (args.attrs ?? {}) as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    if (x === undefined || dy === undefined || x.dtype !== 'float32' || dy.dtype !== 'float32') return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true,
    );
    const taps = info.filterHeight * info.filterWidth;
    const rows = info.batchSize * info.outHeight;
    const outC = info.outChannels;
    if (groups(outC, 64) > MAX_DISPATCH || taps > MAX_DISPATCH || rows === 0) return fallback(args);
    // Rows of a chunk are whole output rows, so a chunk is worth having at a few rows.
    const chunks = chunkCount(rows, groups(outC, 64) * taps, Math.max(1, Math.ceil(256 / info.outWidth)));
    const chunk = Math.ceil(rows / chunks);
    const used = Math.ceil(rows / chunk);
    const backend = webgpuBackendOf(args.backend);
    const i32 = (v: number) => ({ type: 'int32' as const, data: [v] });
    const program = new DepthwiseFilterGradProgram(outC, used, taps, used === 1 ? info.filterShape : [used, taps * outC]);
    const partial = runProgram(backend, program, [x, dy], [
      i32(rows), i32(chunk), i32(taps), i32(info.inHeight), i32(info.inWidth), i32(info.inChannels),
      i32(info.outHeight), i32(info.outWidth), i32(outC), i32(outC / info.inChannels),
      i32(info.strideHeight), i32(info.strideWidth), i32(info.dilationHeight), i32(info.dilationWidth),
      i32(info.padInfo.top), i32(info.padInfo.left), i32(info.filterWidth),
    ]);
    if (used === 1) return partial;
    const out = sumColumns(backend, partial, used, taps * outC, 1, info.filterShape);
    release(backend, partial);
    return out;
  };
}
