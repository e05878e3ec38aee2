/**
 * Gradients of Mean and Sum without `ones`. tfjs 4.22 computes them as dy * ones(x.shape), and
 * `ones` fills a JavaScript typed array of x's size and uploads it: for a 32x56x56x256 activation
 * that is 103 MB built on the CPU and copied to the GPU, twice per training-mode BatchNorm (the
 * mean and the variance of its moments) in every step. Here one pass broadcasts dy (divided by the
 * count, for Mean) to x's shape on the GPU. Not through tfjs's Tile: when dy's values live on the
 * CPU (a small tensor made from JavaScript numbers, such as the seed of a gradient), tfjs's Tile
 * builds its whole output in JavaScript too, 1.8-2.2 s for that activation (the GPU run of
 * 2026-11-30 found it in the BatchNorm rows of the kernel table).
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram, webgpuBackendOf } from './backend.ts';

/** {dy}, attrs {shape, count}: dy (shaped as x with its reduced axes kept as 1) / count, broadcast to `shape`. */
export const BROADCAST_GRAD = 'TLBroadcastGrad';

class BroadcastProgram extends FlatProgram {
  readonly variableNames = ['dy'];
  readonly uniforms = 'count : f32,';
  readonly shaderKey = 'tlBroadcastGrad';

  protected body(): string {
    return 'result[index] = getDyByOutputIndex(index) / uniforms.count;';
  }
}

/** Kernel function of BROADCAST_GRAD. */
export const broadcastGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy } = inputs;
  if (dy === undefined) throw new Error(`${BROADCAST_GRAD} needs dy`);
  const { shape, count } = attrs as unknown as { shape: number[]; count: number };
  return runProgram(webgpuBackendOf(backend), new BroadcastProgram(shape), [dy], [{ type: 'float32', data: [count] }]);
};

/** The ranks tfjs's shader helpers index (getCoordsFromIndex goes up to 6). */
const MAX_RANK = 6;

function broadcastGrad(original: tf.GradConfig, mean: boolean): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (tf.getBackend() !== 'webgpu' || Array.isArray(dy) || x === undefined || dy.dtype !== 'float32' || x.shape.length > MAX_RANK) {
        return original.gradFunc(dy, saved, attrs);
      }
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const count = tf.util.sizeFromShape(x.shape) / tf.util.sizeFromShape(kept);
      return {
        x: () => tf.engine().runKernel(BROADCAST_GRAD, { dy: tf.reshape(dy, kept) }, { shape: x.shape, count: mean ? count : 1 }) as tf.Tensor,
      };
    },
  };
}

/** Mean's gradient: dy / count broadcast to x's shape, on webgpu; `original` elsewhere. */
export const meanGrad = (original: tf.GradConfig): tf.GradConfig => broadcastGrad(original, true);
/** Sum's gradient: dy broadcast to x's shape, on webgpu; `original` elsewhere. */
export const sumGrad = (original: tf.GradConfig): tf.GradConfig => broadcastGrad(original, false);
