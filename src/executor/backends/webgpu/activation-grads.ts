/**
 * Gradients of ReLU, ReLU6 and clipByValue (tf.layers' ReLU with a maxValue, as MobileNetV2 uses
 * it) in one elementwise pass. tfjs 4.22 builds them from masks: Relu is step, cast and multiply
 * (two dispatches); ClipByValue is two comparisons, a logical and, a zeros tensor and a select (five
 * dispatches and two scalars uploaded from JavaScript). Here each is one dispatch that reads x and
 * dy once.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, inFours, lit, runProgram, webgpuBackendOf } from './backend.ts';

/** {dy, x}, attrs {mode, lo, hi}: dy where x is inside the activation's linear range, else 0. */
export const MASK_GRAD = 'TLMaskGrad';

/**
 * Which inputs pass the gradient, matching tfjs's own gradients exactly: Relu's and Relu6's use
 * step(x), so x = 0 passes nothing and NaN stays NaN; ClipByValue's is lo <= x <= hi, NaN gives 0.
 */
type MaskMode = 'relu' | 'relu6' | 'clip';

/** WGSL: whether the gradient passes at `v` (the activation's input), per component where `vec4`. */
export function keep(mode: MaskMode, vec4 = false): string {
  const z = lit('0.0', vec4);
  if (mode === 'relu') return `v > ${z}`;
  if (mode === 'relu6') return `(v > ${z}) & (v <= ${lit('6.0', vec4)})`;
  return `(v >= ${lit('uniforms.lo', vec4)}) & (v <= ${lit('uniforms.hi', vec4)})`;
}

class MaskGradProgram extends FlatProgram {
  readonly variableNames = ['dy', 'x'];
  readonly uniforms = 'lo : f32, hi : f32,';
  readonly shaderKey: string;

  /** Four values an invocation where the size allows (vec4 loads; the pass is memory-bound). */
  constructor(private readonly mode: MaskMode, outputShape: readonly number[], private readonly vec4 = inFours(outputShape)) {
    super(outputShape, vec4 ? 2 : undefined);
    this.shaderKey = `tlMaskGrad_${mode}${vec4 ? '_v4' : ''}`;
  }

  protected body(): string {
    const kept = `select(${lit('0.0', this.vec4)}, dy[index], ${keep(this.mode, this.vec4)})`;
    // Relu's and Relu6's gradients keep a NaN input (tfjs's step(x) is NaN there); the clip's gives 0.
    const value = this.mode === 'clip' ? kept : `select(${kept}, v, ${this.vec4 ? 'isnanVec4(v)' : 'isnan(v)'})`;
    return `
        let v = x[index];
        result[index] = ${value};`;
  }
}

/** Kernel function of MASK_GRAD. */
export const maskGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x } = inputs;
  if (dy === undefined || x === undefined) throw new Error(`${MASK_GRAD} needs dy and x`);
  const { mode, lo, hi } = attrs as unknown as { mode: MaskMode; lo: number; hi: number };
  return runProgram(webgpuBackendOf(backend), new MaskGradProgram(mode, x.shape), [dy, x], [
    { type: 'float32', data: [lo] },
    { type: 'float32', data: [hi] },
  ]);
};

function maskGradConfig(original: tf.GradConfig, mode: MaskMode): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (tf.getBackend() !== 'webgpu' || Array.isArray(dy) || x === undefined || x.dtype !== 'float32' || dy.dtype !== 'float32') {
        return original.gradFunc(dy, saved, attrs);
      }
      const clip = attrs as unknown as Partial<tf.ClipByValueAttrs>;
      const bounds = mode === 'clip' ? { lo: clip.clipValueMin ?? 0, hi: clip.clipValueMax ?? 0 } : { lo: 0, hi: 0 };
      return { x: () => tf.engine().runKernel(MASK_GRAD, { dy, x }, { mode, ...bounds }) as tf.Tensor };
    },
  };
}

/** Relu's gradient in one pass on webgpu; `original` elsewhere. */
export const reluGrad = (original: tf.GradConfig): tf.GradConfig => maskGradConfig(original, 'relu');
/** Relu6's gradient in one pass on webgpu; `original` elsewhere. */
export const relu6Grad = (original: tf.GradConfig): tf.GradConfig => maskGradConfig(original, 'relu6');
/** ClipByValue's gradient in one pass on webgpu; `original` elsewhere. */
export const clipByValueGrad = (original: tf.GradConfig): tf.GradConfig => maskGradConfig(original, 'clip');
