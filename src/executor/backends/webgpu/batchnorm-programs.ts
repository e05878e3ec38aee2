/**
 * The WGSL programs of TL's training-mode BatchNorm (channels last, seen as `[rows, C]`):
 *
 * - `pairPartials`: two per-channel sums in one pass over the activations, in chunks, either the
 *   batch moments (sums of x - k and (x - k)^2, k = the channel's first value, so the variance does
 *   not lose its digits to a large mean) or the gradient's sum(dy) and sum(dy * (x - mean)).
 * - `channelProgram`: per-channel values from the chunk partials (summed by 64 lanes a channel) and
 *   `[C]`-sized inputs, into several outputs at once (the statistics and the moving averages; the
 *   gradient's coefficients and the scale and offset gradients), in one small dispatch.
 * - `NormalizeProgram` and `ChannelAffineProgram`: one pass over the activations each (the
 *   normalisation, the input gradient).
 *
 * With an activation fused after the BatchNorm (backends/fused-activation.ts), the normalisation
 * writes relu(y) or relu6(y), and the gradient's passes mask dy where the activation passed
 * nothing, recomputing y from x and the statistics by the normalisation's own expression (`PRE`),
 * so that the mask is the one tfjs's gradient of the activation would apply to the stored y.
 */
import type * as tf from '@tensorflow/tfjs';
import { FlatProgram, lit, release, type WebGPUBackend } from './backend.ts';
import type { Activation } from '../batchnorm-training.ts';
import type { FusedActivation } from '../fused-activation.ts';
import { keep } from './activation-grads.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';
import { columnSumsPass, ColumnSumsProgram, sumColumns, type ColumnTerms } from './reduce-programs.ts';

/** What a pair of sums adds up, per channel c over rows r. */
export type PairSumsKind = 'moments' | 'gradient';

/**
 * The normalisation's value before any activation, y = (x - mean) gamma rstd + beta, as WGSL of x
 * and channel c, from the `[3, C]` statistics and beta: the forward pass writes it, and a masked
 * gradient recomputes it with the same expression.
 */
const PRE = (x: string, c: string) => `(${x} - stats[${c}]) * stats[2 * uniforms.cols + ${c}] + beta[${c}]`;

/** WGSL of `y` with `activation` applied, as tfjs's webgpu kernels apply it (per component where `vec4`). */
function apply(activation: Activation, y: string, vec4 = false): string {
  const z = lit('0.0', vec4);
  if (activation === 'relu') return `select(${y}, ${z}, ${y} < ${z})`;
  if (activation === 'relu6') return `clamp(${y}, ${z}, ${lit('6.0', vec4)})`;
  return y;
}

/** WGSL that sets `d` to `dy` where `activation` passed y (`y` a WGSL value), else 0. */
function masked(activation: FusedActivation, y: string, dy: string, vec4 = false): string {
  return `let v = ${y};\n          let d = select(${lit('0.0', vec4)}, ${dy}, ${keep(activation, vec4)});`;
}

/** The pair's terms, on scalars or (`fours`, four channels at a time) on vec4s, as ColumnTerms say. */
function pairTerms(kind: PairSumsKind, activation: Activation, fours: boolean): ColumnTerms {
  const sums = ['a', 'b'];
  // x - k and its square, k = x[0, c].
  if (kind === 'moments') return { inputs: ['x'], setup: 'let k = x[col];', row: 'let a = x[i] - k; let b = a * a;', sums };
  // dy and dy * (x - mean), mean = stats[0, c]; dy masked by the activation after the BatchNorm.
  if (activation === 'linear') return { inputs: ['x', 'dy', 'mean'], setup: 'let k = mean[col];', row: 'let a = dy[i]; let b = a * (x[i] - k);', sums };
  return { inputs: ['x', 'dy', 'stats', 'beta'], setup: 'let k = stats[col];', row: `${masked(activation, PRE('x[i]', 'col'), 'dy[i]', fours)} let a = d; let b = a * (x[i] - k);`, sums };
}

/** The pair sums as reduce-programs.ts's column sums (its own class, so that profiles name it). */
class PairSumsProgram extends ColumnSumsProgram {
  constructor(kind: PairSumsKind, activation: Activation, chunks: number, cols: number, fours: boolean) {
    super(`tlPairSums_${kind}_${activation}`, pairTerms(kind, activation, fours), chunks, cols, chunks === 1 ? [2, cols] : [chunks, 2 * cols], fours);
  }
}

/**
 * The two sums of `kind` over the rows of `inputs` (the first seen as `[rows, cols]`, the others
 * of the same size or `[cols]`-sized: `[x]` for the moments, `[x, dy, stats]` for the gradient,
 * and beta after them when an activation masks dy) in chunks: `[chunks, 2, cols]` partials, one
 * pass. A channelProgram finishes them.
 */
export function pairPartials(backend: WebGPUBackend, kind: PairSumsKind, inputs: readonly tf.TensorInfo[], rows: number, cols: number, activation: Activation = 'linear'): { partial: tf.TensorInfo; chunks: number } {
  const { sums, chunks } = columnSumsPass(backend, (n, fours) => new PairSumsProgram(kind, activation, n, cols, fours), inputs, rows, cols, 1);
  return { partial: sums, chunks };
}

/** The two sums of `kind` as `[2, cols]`: the partials of pairPartials, summed by a second pass when chunked. */
export function pairSums(backend: WebGPUBackend, kind: PairSumsKind, inputs: readonly tf.TensorInfo[], rows: number, cols: number): tf.TensorInfo {
  const { partial, chunks } = pairPartials(backend, kind, inputs, rows, cols);
  if (chunks === 1) return partial;
  const out = sumColumns(backend, partial, chunks, 2 * cols, 1, [2, cols]);
  release(backend, partial);
  return out;
}

/** Lanes that sum one channel's chunk partials together (multi-output.ts `lanes`). */
const CHUNK_LANES = 64;

/**
 * WGSL that sets `sA` and `sB`, channel c's two sums over the chunks of input `partial`, and leaves
 * only lane 0 running. Each lane adds every 64th chunk, then the lanes meet in halves. One
 * invocation adding all the chunks (up to 1,024) one after another took 63 us a program on the
 * H200 (2026-11-30): the two per-channel programs of the 53 BatchNorms were 6.8 ms of a 67 ms
 * ResNet50 step, and 20% of MobileNetV2's.
 */
const SUM_CHUNKS = `
        var pair = vec2<f32>(0.0);
        for (var s = i32(lane); s < uniforms.chunks; s += ${CHUNK_LANES}) {
          pair += vec2<f32>(partial[2 * s * uniforms.cols + c], partial[(2 * s + 1) * uniforms.cols + c]);
        }
        lanePairs[lane] = pair;
        workgroupBarrier();
        for (var half = ${CHUNK_LANES / 2}u; half > 0u; half >>= 1u) {
          if (lane < half) {
            lanePairs[lane] += lanePairs[lane + half];
          }
          workgroupBarrier();
        }
        if (lane != 0u) {
          return;
        }
        let sA = lanePairs[0].x;
        let sB = lanePairs[0].y;`;

/** Constants every per-channel program has as uniforms: the channel count, 1 / rows, the variance epsilon, a decay, the chunks of `partial`. */
export interface ChannelConstants {
  readonly cols: number;
  readonly rows: number;
  readonly epsilon: number;
  readonly decay?: number;
  readonly chunks?: number;
}

/**
 * A per-channel program: for each channel `c`, the pair sums' chunk partials of the input `partial`
 * are added up into `sA` and `sB` (SUM_CHUNKS), then `body` writes that channel's values into each
 * of `outputs` (a `[k, C]` output at `k * uniforms.cols + c`), from them and `[C]`-sized inputs.
 * One small dispatch instead of a chain of tiny ops, however many values it makes.
 */
export function channelProgram(key: string, inputs: readonly string[], outputs: readonly string[], body: string): MultiOutputProgram {
  return { key, inputs, outputs, uniforms: 'cols : i32, inv : f32, eps : f32, decay : f32, chunks : i32,', body: `let c = index;\n${SUM_CHUNKS}\n${body}`, lanes: CHUNK_LANES };
}

/** Runs a channelProgram on `inputs`, to new outputs of the shapes given, or into the tensors given (runMultiOutput). */
export function perChannel(backend: WebGPUBackend, program: MultiOutputProgram, inputs: readonly tf.TensorInfo[], outputs: readonly (readonly number[] | tf.TensorInfo)[], k: ChannelConstants): tf.TensorInfo[] {
  return runMultiOutput(backend, program, inputs, outputs, k.cols, [
    { type: 'int32', data: [k.cols] },
    { type: 'float32', data: [1 / k.rows] },
    { type: 'float32', data: [k.epsilon] },
    { type: 'float32', data: [k.decay ?? 0] },
    { type: 'int32', data: [k.chunks ?? 1] },
  ]);
}

/**
 * A pass over the activations in fours or one value at a time, with `inputs` inputs (per-channel or
 * full-size). In fours where channels come in fours (every BatchNorm of ResNet50 and MobileNetV2):
 * vec4 loads and one channel index for four values; the pass is then told the channel count in
 * fours (`cols`), and indexes the `[k, C]` per-channel inputs as `[k, C / 4]` vec4s, by the same
 * expressions. On the H200 the scalar passes moved about 0.7 TB/s (2026-11-30: 3.5-3.7 ms each a
 * ResNet50 step); tfjs's vec4 mul moved 1.0 TB/s.
 */
abstract class ChannelPass extends FlatProgram {
  readonly uniforms = 'cols : i32,';

  constructor(outputShape: readonly number[], inputs: number, protected readonly vec4: boolean) {
    super(outputShape, vec4 ? inputs : undefined);
  }
}

/** y = (x - stats[0, c]) * stats[2, c] + beta[c], then the activation: a BatchNorm's normalisation from its [3, C] statistics (mean, variance, gamma rstd). */
export class NormalizeProgram extends ChannelPass {
  readonly variableNames = ['x', 'stats', 'beta'];
  readonly shaderKey: string;

  constructor(outputShape: readonly number[], private readonly activation: Activation, vec4: boolean) {
    super(outputShape, 3, vec4);
    this.shaderKey = `tlBnNormalize_${activation}${vec4 ? '_v4' : ''}`;
  }

  protected body(): string {
    return `
        let c = index % uniforms.cols;
        let y = ${PRE('x[index]', 'c')};
        result[index] = ${apply(this.activation, 'y', this.vec4)};`;
  }
}

/**
 * A BatchNorm's input gradient, dx = coef[0, c] * dy + coef[1, c] * x + coef[2, c] elementwise, c
 * the last-axis channel. With an activation after the BatchNorm, dy is first masked where the
 * activation passed nothing, y recomputed from x, stats and beta.
 */
export class ChannelAffineProgram extends ChannelPass {
  readonly variableNames: string[];
  readonly shaderKey: string;

  constructor(outputShape: readonly number[], private readonly activation: Activation, vec4: boolean) {
    super(outputShape, activation === 'linear' ? 3 : 5, vec4);
    this.variableNames = activation === 'linear' ? ['dy', 'x', 'coef'] : ['dy', 'x', 'coef', 'stats', 'beta'];
    this.shaderKey = `tlChannelAffine_${activation}${vec4 ? '_v4' : ''}`;
  }

  protected body(): string {
    const d = this.activation === 'linear' ? 'let d = dy[index];' : masked(this.activation, PRE('x[index]', 'c'), 'dy[index]', this.vec4);
    return `
        let c = index % uniforms.cols;
        ${d}
        result[index] = coef[c] * d + coef[uniforms.cols + c] * x[index] + coef[2 * uniforms.cols + c];`;
  }
}
