/**
 * A bilinear sampler built only from gathers, `mul` and `add`, with the sampling positions and
 * weights computed in JavaScript.
 *
 * Why not `tf.image.transform`: its kernels interpolate in float on wasm and in double on cpu, so
 * the two backends disagree in the last bits. Here every tensor op is a single IEEE operation on
 * float32 (gather is a copy; one `mul` and one `add` per tap, in a fixed order), which both
 * backends round identically, so an augmented batch is bit-identical on cpu and wasm. The cost is
 * at most four gathers of the batch (one for flips alone), against a training step's convolutions,
 * plus the positions and weights computed here and uploaded: on a GPU that host work outweighs the
 * step, so a backend with a resampler kernel of its own (webgpu: backends/webgpu/affine-sample.ts)
 * is given the transforms only.
 *
 * Points outside the image are filled by reflection about the edge (Keras' default `reflect`:
 * d c b a | a b c d | d c b a), so a rotated or shifted image has no black wedges for the model
 * to learn.
 */
import * as tf from '@tensorflow/tfjs';
import { AFFINE_SAMPLE } from '../backends/webgpu/affine-sample.ts';
import type { Affine } from './affine.ts';

/** Maps a continuous coordinate into [0, size - 1] by reflecting about the edges at -0.5 and size - 0.5. */
export function reflect(x: number, size: number): number {
  const period = 2 * size;
  let r = (x + 0.5) % period;
  if (r < 0) r += period;
  if (r >= size) r = period - r;
  r -= 0.5;
  return r < 0 ? 0 : r > size - 1 ? size - 1 : r;
}

/**
 * Resamples each image of `x` (NHWC, float) through its transform (see affine.ts for the
 * convention) with bilinear interpolation. Must run inside `tf.tidy` (it makes intermediates).
 *
 * Taps whose weight is zero for every pixel of the batch are left out, so a batch that is only
 * flipped (every sample on a pixel centre) costs one gather and no arithmetic.
 */
export function sampleAffine(x: tf.Tensor4D, transforms: readonly Affine[]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (transforms.length !== n) throw new RangeError(`need ${n} transforms, got ${transforms.length}`);
  // A backend with a sampler of its own (webgpu: positions computed on the GPU) gets the transforms only.
  if (tf.getKernel(AFFINE_SAMPLE, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(AFFINE_SAMPLE, { x, transforms: tf.tensor2d(transforms.flat(), [n, 6]) }) as tf.Tensor4D;
  }
  const pixels = n * h * w;
  // Top-left / top-right / bottom-left / bottom-right neighbour of each output pixel.
  const index = [0, 1, 2, 3].map(() => new Int32Array(pixels));
  const [i00, i01, i10, i11] = index as [Int32Array, Int32Array, Int32Array, Int32Array];
  const fxs = new Float64Array(pixels);
  const fys = new Float64Array(pixels);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  let fractionalX = false;
  let fractionalY = false;
  let p = 0;
  for (let i = 0; i < n; i++) {
    const [a, b, tx, cc, d, ty] = transforms[i]!;
    const base = i * h * w;
    for (let y = 0; y < h; y++) {
      const qy = y - cy;
      for (let xx = 0; xx < w; xx++, p++) {
        const qx = xx - cx;
        const sx = reflect(a * qx + b * qy + tx + cx, w);
        const sy = reflect(cc * qx + d * qy + ty + cy, h);
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = x0 + 1 < w ? x0 + 1 : x0;
        const y1 = y0 + 1 < h ? y0 + 1 : y0;
        const fx = sx - x0;
        const fy = sy - y0;
        if (fx !== 0) fractionalX = true;
        if (fy !== 0) fractionalY = true;
        fxs[p] = fx;
        fys[p] = fy;
        i00[p] = base + y0 * w + x0;
        i01[p] = base + y0 * w + x1;
        i10[p] = base + y1 * w + x0;
        i11[p] = base + y1 * w + x1;
      }
    }
  }
  const flat: tf.Tensor2D = x.reshape([pixels, c]);
  const gather = (k: number) => takeRows(flat, index[k]!);
  if (!fractionalX && !fractionalY) return gather(0).reshape([n, h, w, c]);

  const tapWeight: Array<(fx: number, fy: number) => number> = [
    (fx, fy) => (1 - fy) * (1 - fx),
    (fx, fy) => (1 - fy) * fx,
    (fx, fy) => fy * (1 - fx),
    (fx, fy) => fy * fx,
  ];
  const taps = [0];
  if (fractionalX) taps.push(1);
  if (fractionalY) taps.push(2);
  if (fractionalX && fractionalY) taps.push(3);
  let out: tf.Tensor | null = null;
  for (const k of taps) {
    // One weight per channel: a same-shape multiply is a fast path on every backend; a broadcast is not.
    const weight = new Float32Array(pixels * c);
    const f = tapWeight[k]!;
    for (let q = 0, o = 0; q < pixels; q++) {
      const v = f(fxs[q]!, fys[q]!);
      for (let ch = 0; ch < c; ch++) weight[o++] = v;
    }
    const term = tf.mul(gather(k), tf.tensor2d(weight, [pixels, c]));
    out = out === null ? term : tf.add(out, term);
  }
  return (out as tf.Tensor).reshape([n, h, w, c]);
}

/**
 * `flat[rows]`. Both kernels copy, so results are identical; the choice is speed: wasm's GatherV2
 * checks every index in JavaScript and walks 4-D strides per element (measured about 2x slower than
 * its GatherNd on a 295k-row batch), while the cpu backend's GatherNd is the slower one there.
 */
function takeRows(flat: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  if (tf.getBackend() === 'cpu') return tf.gather(flat, tf.tensor1d(rows, 'int32'));
  return tf.gatherND(flat, tf.tensor2d(rows, [rows.length, 1], 'int32')) as tf.Tensor2D;
}
