/**
 * The narrow bridge to tfjs-backend-webgpu's program API. Only types are imported from the package
 * (erased at run time), so nothing here loads WebGPU where it is absent.
 *
 * A program is the backend's own `WebGPUProgram`: the backend prepends a header that declares the
 * output `result: array<f32>`, one `array<f32>` per entry of `variableNames` (named as given), and a
 * `uniforms` struct holding each input's and the output's shape and strides followed by the
 * program's own `uniforms` fields. `getUserCode` supplies the rest, starting at `fn main()`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

export { swapMethod } from '../registry.ts';

export type { WebGPUBackend, WebGPUProgram };

/** One field of a program's uniforms, in the order the program's `uniforms` string declares them. */
export interface Uniform {
  readonly type: 'int32' | 'uint32' | 'float32';
  readonly data: number[];
}

/** An `i32` field of a program's uniforms. */
export const i32 = (value: number): Uniform => ({ type: 'int32', data: [value] });

function isWebgpuBackend(backend: unknown): backend is WebGPUBackend {
  return typeof backend === 'object' && backend !== null && typeof (backend as { runWebGPUProgram?: unknown }).runWebGPUProgram === 'function';
}

/** The backend object a kernel receives, checked once. */
export function webgpuBackendOf(backend: unknown): WebGPUBackend {
  if (!isWebgpuBackend(backend)) throw new Error('TL webgpu kernels need the tfjs webgpu backend');
  return backend;
}

/**
 * Runs `program` on `inputs` and returns its float32 output: a new tensor, or `output` when given
 * (the program then writes into it, e.g. one part of it; its own outputShape sizes the dispatch).
 */
export function runProgram(backend: WebGPUBackend, program: WebGPUProgram, inputs: readonly tf.TensorInfo[], uniforms: readonly Uniform[], output?: tf.TensorInfo): tf.TensorInfo {
  return backend.runWebGPUProgram(program, [...inputs], 'float32', uniforms.map((u) => ({ type: u.type, data: [...u.data] })), output);
}

/**
 * The same data seen with another shape of the same size: programs index their inputs flat, so a
 * view costs nothing (no kernel, no copy, no reference taken; it lives as long as `info`).
 */
export function view(info: tf.TensorInfo, shape: readonly number[]): tf.TensorInfo {
  return { dataId: info.dataId, dtype: info.dtype, shape: [...shape] };
}

/** The parts of the backend the two helpers below touch (private in tfjs's typings). */
interface QueueInternals {
  readonly tensorMap: { get(dataId: unknown): { resource: unknown } | undefined };
  readonly commandEncoder: GPUCommandEncoder | null;
  uploadToGPU(dataId: unknown): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** The buffer holding `t` on the GPU (uploaded first where its values are still on the CPU). */
export function gpuBufferOf(backend: WebGPUBackend, t: tf.TensorInfo): GPUBuffer {
  const b = backend as unknown as QueueInternals;
  b.uploadToGPU(t.dataId);
  return b.tensorMap.get(t.dataId)!.resource as GPUBuffer;
}

/** Submits whatever the backend has recorded and not yet submitted, so that later queue work lands after it. */
export function submitPending(backend: WebGPUBackend): void {
  const b = backend as unknown as QueueInternals;
  if (b.commandEncoder === null) return;
  b.endComputePassEncoder();
  b.submitQueue();
}

/** Frees an intermediate result; the backend defers the release until queued work is submitted. */
export function release(backend: WebGPUBackend, info: tf.TensorInfo): void {
  backend.disposeData(info.dataId);
}

/** Number of workgroups needed to cover `n` items with `per` items each. */
export function groups(n: number, per: number): number {
  return Math.max(1, Math.ceil(n / per));
}

/** The product of a shape's dimensions. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Whether a flat pass over `shape` can take four values an invocation (a program's vec4 form). */
export const inFours = (shape: readonly number[]): boolean => sizeOf(shape) % 4 === 0;

/** WGSL: the scalar `value` as a program's value type, f32 or (`vec4`) vec4<f32>. */
export const lit = (value: string, vec4: boolean): string => (vec4 ? `vec4<f32>(${value})` : value);

/** WebGPU's per-dimension dispatch limit every adapter must support. */
export const MAX_DISPATCH = 65535;

/**
 * WGSL declaring `bi`, `ih`, `iw` and the channel `c`: the NHWC coordinates of the flat `index` in a
 * tensor whose height and width are the uniforms `h` and `w` and whose channel count is `channels`
 * (in fours for a vec4 program, with `c` naming the four).
 */
export function decodeNhwc(h = 'inH', w = 'inW', channels = 'inC', c = 'c'): string {
  return `
        let ${c} = index % uniforms.${channels};
        let t = index / uniforms.${channels};
        let iw = t % uniforms.${w};
        let t2 = t / uniforms.${w};
        let ih = t2 % uniforms.${h};
        let bi = t2 / uniforms.${h};`;
}

/** A convolution's filter size, strides and dilations, for programs that compile them in (the taps' loops then unroll). */
export interface Taps { readonly filterH: number; readonly filterW: number; readonly strideH: number; readonly strideW: number; readonly dilH: number; readonly dilW: number }

/** The taps of a convolution as tfjs describes it. */
export function tapsOf(info: tf.backend_util.Conv2DInfo): Taps {
  return { filterH: info.filterHeight, filterW: info.filterWidth, strideH: info.strideHeight, strideW: info.strideWidth, dilH: info.dilationHeight, dilW: info.dilationWidth };
}

/** decodeNhwc for a tensor of the uniforms `inH`, `inW` and `inC`. */
export const DECODE_NHWC = decodeNhwc();

/**
 * A program with one invocation per output value: the backend calls `main(index)` with the flat
 * index and folds dispatches past 65535 workgroups into y and z itself. Subclasses give the WGSL
 * run for each index below `uniforms.size`.
 */
export abstract class FlatProgram implements WebGPUProgram {
  abstract readonly variableNames: string[];
  abstract readonly uniforms: string;
  abstract readonly shaderKey: string;
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  readonly size = true;
  /** Values an invocation writes (4: `result` is an array of vec4s). */
  readonly outputComponent: number;

  /**
   * With `fours`, the program takes four values an invocation as vec4s, its output and its first
   * `fours` inputs (the size must be a multiple of 4: `inFours`), the others one value each;
   * without, one value.
   */
  constructor(outputShape: readonly number[], private readonly fours?: number) {
    this.outputShape = [...outputShape];
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.outputComponent = fours === undefined ? 1 : 4;
    this.dispatch = [groups(sizeOf(outputShape) / this.outputComponent, 64), 1, 1];
  }

  /** Values of each input a read gives (tfjs needs one for every input where it has any). */
  get variableComponents(): number[] | undefined {
    const fours = this.fours;
    return fours === undefined ? undefined : this.variableNames.map((_, i) => (i < fours ? 4 : 1));
  }

  /** The body of `main(index : i32)`, run for each output index. */
  protected abstract body(): string;

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) {
          return;
        }
        ${this.body()}
      }`;
  }
}
