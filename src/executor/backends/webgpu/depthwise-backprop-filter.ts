/**
 * DepthwiseConv2dNativeBackpropFilter: for each filter tap (fh, fw) and output channel d = c*Q + q,
 *   dW[fh, fw, c, q] = sum over (b, oh, ow) of x[b, oh*sh + fh*dh - padT, ow*sw + fw*dw - padL, c] * dy[b, oh, ow, d]
 * A few thousand outputs, each a sum over the whole batch: tfjs 4.22 gave each output one thread.
 * Here the output rows (b, oh) are cut into chunks, one workgroup per (channel block, chunk, tap),
 * and the column-sum program adds the chunks' partials. Dilation is honoured (tfjs's own kernel
 * ignores it).
 */
import * as tf from '@tensorflow/tfjs';
import { groups, i32, MAX_DISPATCH, release, runProgram, tapsOf, webgpuBackendOf, type Taps, type WebGPUProgram } from './backend.ts';
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

/** Most taps the vec4 program keeps a sum of each (3 x 3: nine vec4 accumulators an invocation). */
const MAX_TAPS = 9;

/**
 * Where each channel has one filter and channels come in fours (MobileNetV2's, all of them): an
 * invocation takes four neighbouring channels as vec4s and every tap at once, the taps' loops
 * unrolled with the geometry compiled in, so that each value of dy is read once instead of once a
 * tap (the program above reads dy and x nine times for a 3 x 3 filter, one workgroup a tap). The
 * row lanes then meet tap by tap. Partials as above, four channels a store. On llvmpipe, batch 8:
 * 56x56x144 3x3/1 162 -> 26 ms, 112x112x96 3x3/2 98 -> 21 ms, 14x14x576 3x3/1 20 -> 9 ms.
 */
class DepthwiseFilterGradVec4Program implements WebGPUProgram {
  readonly variableNames = ['x', 'dy'];
  readonly variableComponents = [4, 4];
  readonly outputComponent = 4;
  readonly uniforms = 'rows : i32, chunk : i32, inH : i32, inW : i32, inC4 : i32, outH : i32, outW : i32, padT : i32, padL : i32,';
  readonly workgroupSize: [number, number, number];
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  readonly shaderKey: string;

  /** `width` fours of channels (x) by 256 / width row lanes (y) a workgroup. */
  constructor(private readonly width: number, inC4: number, chunks: number, outputShape: readonly number[], private readonly taps: Taps) {
    this.workgroupSize = [width, 256 / width, 1];
    this.dispatch = [groups(inC4, width), chunks, 1];
    this.outputShape = [...outputShape];
    this.shaderKey = `tlDepthwiseFilterGrad4_${width}_${Object.values(taps).join('_')}`;
  }

  getUserCode(): string {
    const { filterH, filterW, strideH, strideW, dilH, dilW } = this.taps;
    const count = filterH * filterW;
    const fhs = Array.from({ length: filterH }, (_, fh) => fh);
    const fws = Array.from({ length: filterW }, (_, fw) => fw);
    // x's row of each filter row, and whether it lies inside x: once an output row.
    const rows = fhs.map((fh) => `let ih${fh} = oh * ${strideH} + ${fh * dilH} - uniforms.padT;
            let xRow${fh} = (bi * uniforms.inH + ih${fh}) * uniforms.inW;`);
    // Each tap's product with this dy value, where its x lies inside.
    const taps = fhs.map((fh) => `if (ih${fh} >= 0 && ih${fh} < uniforms.inH) {
                ${fws.map((fw) => `{
                  let iw = ow * ${strideW} + ${fw * dilW} - uniforms.padL;
                  if (iw >= 0 && iw < uniforms.inW) {
                    acc[${fh * filterW + fw}] += x[(xRow${fh} + iw) * uniforms.inC4 + c4] * g;
                  }
                }`).join('\n                ')}
              }`);
    // The row lanes meet, a tap at a time.
    const { width } = this;
    const rowLanes = 256 / width;
    const sum = Array.from({ length: rowLanes }, (_, y) => `lanes[l + ${y * width}u]`).join(' + ');
    const writes = Array.from({ length: count }, (_, t) => `lanes[localIndex] = acc[${t}];
        workgroupBarrier();
        if (localId.y == 0u && c4 < uniforms.inC4) {
          let l = localId.x;
          result[(s * ${count} + ${t}) * uniforms.inC4 + c4] = ${sum};
        }
        workgroupBarrier();`);
    return `
      var<workgroup> lanes : array<vec4<f32>, 256>;

      fn main() {
        let c4 = i32(workgroupId.x) * ${width} + i32(localId.x);
        let s = i32(workgroupId.y);
        let first = s * uniforms.chunk;
        let last = min(uniforms.rows, first + uniforms.chunk);
        var acc : array<vec4<f32>, ${count}>;
        if (c4 < uniforms.inC4) {
          for (var row = first + i32(localId.y); row < last; row += ${rowLanes}) {
            let bi = row / uniforms.outH;
            let oh = row - bi * uniforms.outH;
            ${rows.join('\n            ')}
            let dyRow = row * uniforms.outW;
            for (var ow = 0; ow < uniforms.outW; ow++) {
              let g = dy[(dyRow + ow) * uniforms.inC4 + c4];
              ${taps.join('\n              ')}
            }
          }
        }
        ${writes.join('\n        ')}
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
    const fours = outC === info.inChannels && outC % 4 === 0 && taps <= MAX_TAPS;
    // Channels in fours: as many of them a workgroup as there are, up to 64 (MobileNetV2's 96 to
    // 192 channels are 24 to 48 fours), the rest of its 256 invocations row lanes.
    // A chunk is whole output rows, worth having at a few: 256 values, and in fours a row or more
    // for each row lane, at least 64 values each.
    const width = fours ? Math.min(64, Math.max(16, 2 ** Math.ceil(Math.log2(outC / 4)))) : 64;
    const minChunk = fours ? (256 / width) * Math.ceil(64 / info.outWidth) : Math.ceil(256 / info.outWidth);
    const chunks = chunkCount(rows, fours ? groups(outC / 4, width) : groups(outC, 64) * taps, minChunk);
    const chunk = Math.ceil(rows / chunks);
    const used = Math.ceil(rows / chunk);
    const shape = used === 1 ? info.filterShape : [used, taps * outC];
    const [program, uniforms] = fours
      ? [
          new DepthwiseFilterGradVec4Program(width, outC / 4, used, shape, tapsOf(info)),
          [rows, chunk, info.inHeight, info.inWidth, outC / 4, info.outHeight, info.outWidth, info.padInfo.top, info.padInfo.left],
        ]
      : [
          new DepthwiseFilterGradProgram(outC, used, taps, shape),
          [rows, chunk, taps, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, outC, outC / info.inChannels, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left, info.filterWidth],
        ];
    const backend = webgpuBackendOf(args.backend);
    const partial = runProgram(backend, program, [x, dy], uniforms.map(i32));
    if (used === 1) return partial;
    const out = sumColumns(backend, partial, used, taps * outC, 1, info.filterShape);
    release(backend, partial);
    return out;
  };
}
