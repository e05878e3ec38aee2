/**
 * Gradients of Mean and Sum without `ones`. tfjs 4.22 computes them as dy * ones(x.shape), and
 * `ones` fills a JavaScript typed array of x's size and uploads it: for a 32x56x56x256 activation
 * that is 103 MB built on the CPU and copied to the GPU, twice per training-mode BatchNorm (the
 * mean and the variance of its moments) in every step. A broadcast (the backend's Tile) gives the
 * same values without leaving the GPU.
 */
import * as tf from '@tensorflow/tfjs';

function broadcastGrad(original: tf.GradConfig, mean: boolean): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (tf.getBackend() !== 'webgpu' || Array.isArray(dy) || x === undefined) return original.gradFunc(dy, saved, attrs);
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const count = tf.util.sizeFromShape(x.shape) / tf.util.sizeFromShape(kept);
      return {
        x: () => {
          const g = tf.reshape(dy, kept);
          return tf.broadcastTo(mean ? tf.div(g, count) : tf.cast(g, 'float32'), x.shape);
        },
      };
    },
  };
}

/** Mean's gradient: dy / count broadcast to x's shape, on webgpu; `original` elsewhere. */
export const meanGrad = (original: tf.GradConfig): tf.GradConfig => broadcastGrad(original, true);
/** Sum's gradient: dy broadcast to x's shape, on webgpu; `original` elsewhere. */
export const sumGrad = (original: tf.GradConfig): tf.GradConfig => broadcastGrad(original, false);
