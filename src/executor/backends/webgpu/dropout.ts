/**
 * tf.layers' Dropout in training, with its mask drawn on the GPU from a counter the step advances
 * on the GPU.
 *
 * tfjs draws a dropout mask in JavaScript (a uniform number per value, seeded) and uploads it at
 * every training step: a write of other values each step, so a step with dropout (TL's `head
 * dropout`, as the quickstart has) never queued the same commands twice and was never replayed
 * (step-graph.ts). Here each value's keep-or-drop hashes (the layer's seed, a step counter, its
 * index) with the hash of the `noise` augmentation (noise.ts), and a second dispatch adds one to
 * the counter in its own buffer: the step's commands stay the same while each step draws a new
 * mask, replayed or not. Runs repeat on webgpu; the masks are other than cpu's, as tfjs's own
 * differ between backends only by its JavaScript generator.
 */
import * as tf from '@tensorflow/tfjs';
import { swapMethod } from '../registry.ts';
import { runProgram, webgpuBackendOf } from './backend.ts';
import { writableInPlace } from './in-place.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';
import { HashingProgram } from './noise.ts';

/** {counter}, attrs {shape, seed (uint32), rate}: 1 / (1 - rate) where a value is kept, else 0. */
export const DROPOUT_MASK = 'TLDropoutMask';

class DropoutMaskProgram extends HashingProgram {
  readonly variableNames = ['counter'];
  readonly uniforms = 'seed : u32, rate : f32, scale : f32,';
  readonly shaderKey = 'tlDropoutMask';

  protected body(): string {
    // A 24-bit uniform in [0, 1) per (seed, step, index); kept where it reaches the rate.
    return `
        let step = pcgHash(uniforms.seed ^ pcgHash(u32(counter[0])));
        let u = f32(pcgHash(step ^ pcgHash(u32(index))) >> 8u) / 16777216.0;
        result[index] = select(0.0, uniforms.scale, u >= uniforms.rate);`;
  }
}

/** Kernel function of DROPOUT_MASK. */
export const dropoutMask: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { counter } = inputs;
  if (counter === undefined) throw new Error(`${DROPOUT_MASK} needs counter`);
  const { shape, seed, rate } = attrs as unknown as { shape: number[]; seed: number; rate: number };
  return runProgram(webgpuBackendOf(backend), new DropoutMaskProgram(shape), [counter], [
    { type: 'uint32', data: [seed >>> 0] },
    { type: 'float32', data: [rate] },
    { type: 'float32', data: [1 / (1 - rate)] },
  ]);
};

const ADVANCE: MultiOutputProgram = { key: 'tlCounterAdvance', inputs: [], outputs: ['c'], uniforms: '', body: 'c[index] = c[index] + 1.0;' };

/** Each Dropout layer's step counter and seed (made on its first training call). */
const counters = new WeakMap<object, { counter: tf.Variable; seed: number }>();

/**
 * The mask of one training call of `layer` for values of `shape`, and the layer's counter advanced
 * in its own buffer (exact to 2^24 calls).
 */
function dropoutMaskOf(layer: object, shape: readonly number[], rate: number, seed: number | undefined): tf.Tensor {
  let state = counters.get(layer);
  if (state === undefined) {
    // A layer of TL's network carries its draws (network.ts): its seed, and the training calls it
    // had before this one, where a resumed run's counter starts so that it draws what a run never
    // stopped would.
    const draws = (layer as { draws?: { seed: number; calls: number; sync?: () => Promise<void>; restore?: (calls: number) => void } }).draws;
    const counter = tf.variable(tf.fill([1], draws?.calls ?? 0), false);
    state = { counter, seed: draws?.seed ?? seed ?? Math.floor(Math.random() * 2 ** 32) };
    counters.set(layer, state);
    // Replayed steps advance the counter on the GPU only: it, not the JavaScript count, says where the draws stand.
    if (draws) {
      draws.sync = async () => void (draws.calls = (await counter.data())[0]!);
      draws.restore = (calls) => tf.tidy(() => counter.assign(tf.fill([1], calls)));
    }
  }
  const mask = tf.engine().runKernel(DROPOUT_MASK, { counter: state.counter }, { shape: [...shape], seed: state.seed, rate } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const backend = webgpuBackendOf(tf.backend());
  runMultiOutput(backend, ADVANCE, [], [writableInPlace(backend, state.counter)], 1, []);
  return mask;
}

type DropoutCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
interface DropoutLayer {
  readonly rate: number;
  readonly seed?: number;
  readonly noiseShape: readonly (number | null)[] | null;
  invokeCallHook(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): void;
}

let restoreCall: (() => void) | undefined;

/**
 * Puts the GPU mask in tf.layers' Dropout for training calls on webgpu (a full-shape mask on one
 * float32 input; every other call goes to the layer's own); `restoreDropoutLayer` puts it back.
 */
export function patchDropoutLayer(): void {
  if (restoreCall !== undefined) return;
  const prototype = Object.getPrototypeOf(tf.layers.dropout({ rate: 0.5 })) as { call: DropoutCall };
  restoreCall = swapMethod(prototype, 'call', (own, active) =>
    function (this: DropoutLayer, inputs, kwargs) {
      const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0]! : undefined) : inputs;
      const takes = active() && kwargs?.['training'] === true && tf.getBackend() === 'webgpu' && this.rate > 0 && this.rate < 1 && this.noiseShape == null && x?.dtype === 'float32' && x.size > 0;
      if (!takes) return own.call(this, inputs, kwargs);
      return tf.tidy(() => {
        this.invokeCallHook(inputs, kwargs);
        return tf.mul(x!, dropoutMaskOf(this, x!.shape, this.rate, this.seed));
      });
    },
  );
}

/** Restores tf.layers' own Dropout call. */
export function restoreDropoutLayer(): void {
  restoreCall?.();
  restoreCall = undefined;
}
