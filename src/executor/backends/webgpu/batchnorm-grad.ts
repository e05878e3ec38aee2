/**
 * The training-mode BatchNorm gradient in two passes over the activations instead of about twenty.
 *
 * tfjs-layers' batchNormalization in training mode runs moments (Mean, Sub, Square, Mean) and then
 * FusedBatchNorm on the batch statistics. tfjs's FusedBatchNorm gradient builds every piece from
 * full-size ops: x - mean, dy * scale, a Tile of rsqrt(variance) to the full shape, four products,
 * and four per-channel Sums (each a transpose plus a reduction on the webgpu backend). All of its
 * per-channel gradients come from two sums over the batch,
 *   sumDy = sum(dy)   and   sumDyXc = sum(dy * (x - mean)),
 * which one pass computes here (a column sum with two accumulators, chunked like
 * reduce-programs.ts); dx is one broadcast multiply.
 */
import * as tf from '@tensorflow/tfjs';
import { groups, release, runProgram, sizeOf, view, webgpuBackendOf, type WebGPUProgram } from './backend.ts';
import { chunkCount, columnsFit, sumColumns } from './reduce-programs.ts';

/** The kernel that returns `[2, C]`: sum(dy) and sum(dy * (x - mean)) over all but the last axis. */
export const BN_GRAD_SUMS = 'TLBatchNormGradSums';

/**
 * Workgroup: 64 channels (x) by 4 row lanes (y), as ColumnSumProgram; workgroup (cx, s) takes the
 * rows of chunk s and writes partial[s, 0, c] = sum dy and partial[s, 1, c] = sum dy * (x - mean).
 */
class BnGradSumsProgram implements WebGPUProgram {
  readonly variableNames = ['x', 'dy', 'mean'];
  readonly uniforms = 'rows : i32, cols : i32, chunk : i32,';
  readonly workgroupSize: [number, number, number] = [64, 4, 1];
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  shaderKey = 'tlBnGradSums';

  constructor(chunks: number, cols: number) {
    this.dispatch = [groups(cols, 64), chunks, 1];
    this.outputShape = chunks === 1 ? [2, cols] : [chunks, 2 * cols];
  }

  getUserCode(): string {
    return `
      var<workgroup> lanesDy : array<f32, 256>;
      var<workgroup> lanesDyXc : array<f32, 256>;

      fn main() {
        let col = i32(workgroupId.x) * 64 + i32(localId.x);
        let s = i32(workgroupId.y);
        let first = s * uniforms.chunk;
        let last = min(uniforms.rows, first + uniforms.chunk);
        var sDy = 0.0;
        var sDyXc = 0.0;
        if (col < uniforms.cols) {
          let mu = mean[col];
          for (var r = first + i32(localId.y); r < last; r += 4) {
            let i = r * uniforms.cols + col;
            let g = dy[i];
            sDy += g;
            sDyXc += g * (x[i] - mu);
          }
        }
        lanesDy[localIndex] = sDy;
        lanesDyXc[localIndex] = sDyXc;
        workgroupBarrier();
        if (localId.y == 0u && col < uniforms.cols) {
          let c = localId.x;
          let base = s * 2 * uniforms.cols + col;
          result[base] = lanesDy[c] + lanesDy[c + 64u] + lanesDy[c + 128u] + lanesDy[c + 192u];
          result[base + uniforms.cols] = lanesDyXc[c] + lanesDyXc[c + 64u] + lanesDyXc[c + 128u] + lanesDyXc[c + 192u];
        }
      }`;
  }
}

/** Kernel function of BN_GRAD_SUMS: inputs x and dy (same shape, channels last) and mean `[C]`. */
export const bnGradSums: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, dy, mean } = inputs;
  if (x === undefined || dy === undefined || mean === undefined) throw new Error(`${BN_GRAD_SUMS} needs x, dy and mean`);
  const gpu = webgpuBackendOf(backend);
  const cols = mean.shape[0] ?? 1;
  const rows = sizeOf(x.shape) / cols;
  const chunks = rows <= 256 ? 1 : chunkCount(rows, groups(cols, 64), 64, 1024);
  const chunk = Math.ceil(rows / chunks);
  const used = Math.ceil(rows / chunk);
  const i32 = (v: number) => ({ type: 'int32' as const, data: [v] });
  const partial = runProgram(gpu, new BnGradSumsProgram(used, cols), [view(x, [rows, cols]), view(dy, [rows, cols]), mean], [i32(rows), i32(cols), i32(chunk)]);
  if (used === 1) return partial;
  const out = sumColumns(gpu, partial, used, 2 * cols, 1, [2, cols]);
  release(gpu, partial);
  return out;
};

/** Whether the fused gradient applies: batch statistics per last-axis channel, float32. */
function fusable(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor | undefined): boolean {
  const c = x.shape[x.rank - 1];
  const perChannel = (t: tf.Tensor) => t.rank === 1 && t.shape[0] === c;
  return tf.getBackend() === 'webgpu' && x.rank >= 2 && x.dtype === 'float32' && c !== undefined && columnsFit(c)
    && perChannel(mean) && perChannel(variance) && (scale == null || perChannel(scale));
}

/**
 * FusedBatchNorm's gradient: the fused form on webgpu for per-channel statistics, `original`
 * otherwise. The two sums are computed when the gradient function is called, since tfjs calls
 * each input's closure in its own tidy; for a BatchNorm whose mean, variance, scale and offset all
 * need no gradient this is one pass too many, which TL's frozen layers (run in inference mode and
 * below the trainable ones) do not meet.
 */
export function fusedBatchNormGrad(original: tf.GradConfig): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      if (Array.isArray(dy) || x === undefined || mean === undefined || variance === undefined || !fusable(x, mean, variance, scale)) {
        return original.gradFunc(dy, saved, attrs);
      }
      const epsilon = (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon;
      const sums = tf.engine().runKernel(BN_GRAD_SUMS, { x, dy, mean }, {}) as tf.Tensor2D;
      const [sumDy, sumDyXc] = tf.unstack(sums) as [tf.Tensor1D, tf.Tensor1D];
      const rstd = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
      const gain = scale == null ? rstd : tf.mul(rstd, scale);
      return {
        x: () => tf.mul(dy, gain),
        mean: () => tf.reshape(tf.neg(tf.mul(gain, sumDy)), mean.shape),
        // d/dvariance of (x - mean) * rstd * scale is -0.5 * rstd^2 * (x - mean) * rstd * scale.
        variance: () => tf.reshape(tf.mul(tf.mul(tf.square(rstd), gain), tf.mul(sumDyXc, -0.5)), mean.shape),
        scale: () => tf.reshape(tf.mul(rstd, sumDyXc), mean.shape),
        offset: () => tf.reshape(sumDy, mean.shape),
      };
    },
  };
}
