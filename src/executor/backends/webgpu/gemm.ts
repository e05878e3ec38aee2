/**
 * A tiled matrix product C[M, N] = sum over k of A(m, k) * B(k, n) whose operands are read through
 * kernel-specific WGSL (implicit GEMM: a convolution gradient reads its im2col matrix straight from
 * the activations, never building it), with the reduction split into slices when M x N is too small
 * to fill the GPU (a convolution's filter gradient: M x N is the filter, K is every position of the
 * batch). Slices write `[S, M, N]` partials that the column-sum program adds up.
 */
import type * as tf from '@tensorflow/tfjs';
import { groups, MAX_DISPATCH, release, runProgram, type Uniform, type WebGPUBackend, type WebGPUProgram } from './backend.ts';
import { sumColumns, TARGET_WORKGROUPS } from './reduce-programs.ts';

/** Tile of C per workgroup (TILE x TILE) and depth of one step along k. */
export const TILE = 64;
export const TILE_K = 16;
/** A slice gets at least this many k-steps, so its partial is worth writing. */
const MIN_STEPS_PER_SLICE = 8;
/** Cap on the partials buffer, in floats (256 MB). */
const MAX_PARTIAL_FLOATS = 64 * 1024 * 1024;

/**
 * How the invocations of a workgroup share the loading of one k-step of the operand tiles: each
 * operand says which index neighbouring invocations should walk so that their global reads are
 * contiguous ('mn': the tile's m (or n) index, 'k': the k index). The snippets see:
 * `li` (local index 0..255), `tileM`, `tileN`, `k0` (first k of the step), `kEnd` (end of the slice)
 * and must call `storeA(kk, mm, value)` and `storeB(kk, nn, value)` for every kk < TILE_K and
 * mm, nn < TILE, with zero outside the matrices.
 */
export interface GemmSource {
  /** Shader key: must change whenever the generated code does. */
  readonly key: string;
  /** The kernel's input names, in the order its inputs are passed. */
  readonly inputs: readonly string[];
  /** Its uniforms after the GEMM's own (`M`, `N`, `K`, `kChunk`, `steps`). */
  readonly uniforms: string;
  /** WGSL run once per invocation before the k loop (decode the indices fixed for this invocation). */
  readonly setup: string;
  /** WGSL that loads one k-step into `tileA` and `tileB`. */
  readonly load: string;
}

class GemmProgram implements WebGPUProgram {
  readonly variableNames: string[];
  readonly uniforms: string;
  readonly workgroupSize: [number, number, number] = [16, 16, 1];
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  shaderKey: string;
  private readonly source: GemmSource;

  constructor(source: GemmSource, dims: { m: number; n: number; slices: number }, outputShape: readonly number[]) {
    this.source = source;
    this.variableNames = [...source.inputs];
    this.uniforms = `M : i32, N : i32, K : i32, kChunk : i32, steps : i32, ${source.uniforms}`;
    this.dispatch = [groups(dims.n, TILE), groups(dims.m, TILE), dims.slices];
    this.outputShape = [...outputShape];
    this.shaderKey = `tlGemm_${source.key}`;
  }

  getUserCode(): string {
    // Each invocation (tx, ty) of the 16 x 16 workgroup owns a 4 x 4 block of the 64 x 64 tile:
    // rows 4 ty .. 4 ty + 3, columns 4 tx .. 4 tx + 3. The tiles are stored k-major as vec4s, so
    // one step of the inner product is two vec4 reads from workgroup memory (tileA[kk][ty], the
    // same for the 16 invocations of a row: a broadcast; tileB[kk][tx], neighbouring words for
    // neighbours) and four vec4 FMAs. Rows of the tiles are padded to 17 vec4s so that loaders
    // walking k (stores 68 words apart) spread over the banks. The k loop runs a uniform number
    // of steps (`steps`): barriers must stay in uniform control flow, and the last slice just
    // loads zeros past K.
    return `
      var<workgroup> tileA : array<array<vec4<f32>, ${TILE / 4 + 1}>, ${TILE_K}>;
      var<workgroup> tileB : array<array<vec4<f32>, ${TILE / 4 + 1}>, ${TILE_K}>;

      fn storeA(kk : i32, mm : i32, v : f32) {
        tileA[kk][mm / 4][mm % 4] = v;
      }
      fn storeB(kk : i32, nn : i32, v : f32) {
        tileB[kk][nn / 4][nn % 4] = v;
      }

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let li = i32(localIndex);
        let tileM = i32(workgroupId.y) * ${TILE};
        let tileN = i32(workgroupId.x) * ${TILE};
        let slice = i32(workgroupId.z);
        let kBegin = slice * uniforms.kChunk;
        let kEnd = min(uniforms.K, kBegin + uniforms.kChunk);
        ${this.source.setup}
        var acc : array<vec4<f32>, 4>;
        for (var step = 0; step < uniforms.steps; step++) {
          let k0 = kBegin + step * ${TILE_K};
          ${this.source.load}
          workgroupBarrier();
          for (var kk = 0; kk < ${TILE_K}; kk++) {
            let a = tileA[kk][ty];
            let b = tileB[kk][tx];
            acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
            acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
            acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
            acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
          }
          workgroupBarrier();
        }
        let base = slice * uniforms.M * uniforms.N;
        for (var i = 0; i < 4; i++) {
          let m = tileM + 4 * ty + i;
          for (var j = 0; j < 4; j++) {
            let n = tileN + 4 * tx + j;
            if (m < uniforms.M && n < uniforms.N) {
              result[base + m * uniforms.N + n] = acc[i][j];
            }
          }
        }
      }`;
  }
}

/** How many slices to split K into. */
export function sliceCount(m: number, n: number, k: number): number {
  const tiles = groups(m, TILE) * groups(n, TILE);
  const steps = groups(k, TILE_K);
  const wanted = Math.floor(TARGET_WORKGROUPS / tiles);
  const byMemory = Math.floor(MAX_PARTIAL_FLOATS / (m * n));
  return Math.max(1, Math.min(wanted, Math.ceil(steps / MIN_STEPS_PER_SLICE), byMemory, MAX_DISPATCH));
}

/** Whether the tile grid of an M x N product fits the dispatch limits. */
export function gemmFits(m: number, n: number): boolean {
  return groups(m, TILE) <= MAX_DISPATCH && groups(n, TILE) <= MAX_DISPATCH;
}

/**
 * Runs the product and returns C with `outShape` (of size M x N, row-major).
 * `uniforms` are the kernel's own, matching `source.uniforms`.
 */
export function runGemm(
  backend: WebGPUBackend,
  source: GemmSource,
  dims: { m: number; n: number; k: number },
  inputs: readonly tf.TensorInfo[],
  uniforms: readonly Uniform[],
  outShape: readonly number[],
): tf.TensorInfo {
  const { m, n, k } = dims;
  const wanted = sliceCount(m, n, k);
  const steps = groups(groups(k, TILE_K), wanted);
  const kChunk = steps * TILE_K;
  const slices = groups(k, kChunk);
  const program = new GemmProgram(source, { m, n, slices }, slices === 1 ? outShape : [slices, m * n]);
  const own: Uniform[] = [
    { type: 'int32', data: [m] },
    { type: 'int32', data: [n] },
    { type: 'int32', data: [k] },
    { type: 'int32', data: [kChunk] },
    { type: 'int32', data: [steps] },
  ];
  const out = runProgram(backend, program, inputs, [...own, ...uniforms]);
  if (slices === 1) return out;
  const summed = sumColumns(backend, out, slices, m * n, 1, outShape);
  release(backend, out);
  return summed;
}
