/**
 * Sums that use the whole GPU. tfjs-backend-webgpu reduces with one workgroup per output value,
 * after transposing the reduced axes innermost: a per-channel sum of an NHWC tensor costs a full
 * transpose, and a sum to a scalar runs on one workgroup (49 ms for 25.7M values on an H200).
 * These split the reduced axis into chunks, one workgroup each, and sum the partials in a second,
 * small pass of the same program.
 */
import type * as tf from '@tensorflow/tfjs';
import { groups, MAX_DISPATCH, release, runProgram, sizeOf, view, type WebGPUBackend, type WebGPUProgram } from './backend.ts';

/** About how many workgroups a pass should have to fill a large GPU (an H200 holds ~1000 at once). */
export const TARGET_WORKGROUPS = 1024;

/**
 * What a ColumnSumsProgram adds up down each column of `[rows, cols]` row-major inputs: WGSL run
 * once per column before the rows (`setup`, with `col`), WGSL run per row (`row`, with `i` the
 * flat index of the row's value in the column), and the WGSL values it sums, one sum each. Where
 * the program takes four columns at a time, the same WGSL runs on vec4s: every input is an array
 * of vec4s, `col` a column of fours, `i` an index of vec4s and `uniforms.cols` the fours a row.
 */
export interface ColumnTerms {
  readonly inputs: readonly string[];
  readonly setup: string;
  readonly row: string;
  readonly sums: readonly string[];
}

/**
 * Column sums of `terms` in chunks of rows, into `[chunks, k, cols]` for k sums, times `scale`.
 *
 * Workgroup: 64 columns by row lanes, one column an invocation (64 x 4 invocations) or, with
 * `fours` (columns in fours, every input and the output seen as vec4s), four (16 x 16). Workgroup
 * (cx, s) takes the rows of chunk s, each lane every 4th (16th) row, so every row read by the
 * workgroup is one coalesced 256-byte segment; the lanes meet in workgroup memory and lane 0
 * writes chunk s's sums. Four columns an invocation, a load is 16 bytes and a warp's loads cover
 * two rows: a quarter of the load instructions for the same bytes (the BatchNorm pair sums moved
 * about 1.4 TB/s one column an invocation on the H200, 2026-11-30).
 */
export class ColumnSumsProgram implements WebGPUProgram {
  readonly variableNames: string[];
  readonly variableComponents: number[] | undefined;
  readonly outputComponent: 1 | 4;
  readonly uniforms = 'rows : i32, cols : i32, chunk : i32, scale : f32,';
  readonly workgroupSize: [number, number, number];
  // Not flat: the backend then calls `main()` and leaves indexing to us.
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  readonly shaderKey: string;

  constructor(key: string, private readonly terms: ColumnTerms, chunks: number, cols: number, outputShape: readonly number[], private readonly fours = false) {
    this.shaderKey = fours ? `${key}V4` : key;
    this.variableNames = [...terms.inputs];
    this.variableComponents = fours ? terms.inputs.map(() => 4) : undefined;
    this.outputComponent = fours ? 4 : 1;
    this.workgroupSize = fours ? [16, 16, 1] : [64, 4, 1];
    this.outputShape = [...outputShape];
    this.dispatch = [groups(cols, 64), chunks, 1];
  }

  getUserCode(): string {
    const { setup, row, sums } = this.terms;
    const [width, lanes] = this.workgroupSize;
    const type = this.fours ? 'vec4<f32>' : 'f32';
    const each = (f: (value: string, j: number) => string) => sums.map(f).join('\n        ');
    const laneSum = (j: number) => Array.from({ length: lanes }, (_, l) => `lanes${j}[c + ${width * l}u]`).join(' + ');
    return `
      ${each((_, j) => `var<workgroup> lanes${j} : array<${type}, 256>;`)}

      fn main() {
        let col = i32(workgroupId.x) * ${width} + i32(localId.x);
        let s = i32(workgroupId.y);
        let first = s * uniforms.chunk;
        let last = min(uniforms.rows, first + uniforms.chunk);
        ${each((_, j) => `var acc${j} = ${type}(0.0);`)}
        if (col < uniforms.cols) {
          ${setup}
          for (var r = first + i32(localId.y); r < last; r += ${lanes}) {
            let i = r * uniforms.cols + col;
            ${row}
            ${each((value, j) => `acc${j} += ${value};`)}
          }
        }
        ${each((_, j) => `lanes${j}[localIndex] = acc${j};`)}
        workgroupBarrier();
        if (localId.y == 0u && col < uniforms.cols) {
          let c = localId.x;
          ${each((_, j) => `result[(s * ${sums.length} + ${j}) * uniforms.cols + col] = (${laneSum(j)}) * uniforms.scale;`)}
        }
      }`;
  }
}

/** Column sums of one input, into `[chunks, cols]` (its own class, so that profiles name it). */
class ColumnSumProgram extends ColumnSumsProgram {
  constructor(chunks: number, cols: number, outputShape: readonly number[], fours: boolean) {
    super('tlColumnSum', { inputs: ['x'], setup: '', row: '', sums: ['x[i]'] }, chunks, cols, outputShape, fours);
  }
}

/**
 * One pass of `program`'s column sums over `inputs` (the first seen as `[rows, cols]`, the others
 * of the same size or per column, `[k, cols]`): the rows cut into chunks (enough workgroups to
 * fill the GPU, at least 64 rows each; one chunk for 256 rows or fewer). With one chunk the sums
 * are final and multiplied by `scale`; with more they are partials, left for a further pass.
 * `program(chunks, fours)` makes the program for the chunk count, four columns an invocation
 * where `fours` (the columns come in fours); returns its result and the chunk count.
 */
export function columnSumsPass(backend: WebGPUBackend, program: (chunks: number, fours: boolean) => ColumnSumsProgram, inputs: readonly tf.TensorInfo[], rows: number, cols: number, scale: number): { sums: tf.TensorInfo; chunks: number } {
  const wanted = rows <= 256 ? 1 : chunkCount(rows, groups(cols, 64), 64, 1024);
  const chunk = Math.ceil(rows / wanted);
  const chunks = Math.ceil(rows / chunk);
  const seen = inputs.map((t) => (sizeOf(t.shape) === rows * cols ? view(t, [rows, cols]) : t));
  const fours = cols % 4 === 0;
  const sums = runProgram(backend, program(chunks, fours), seen, [
    { type: 'int32', data: [rows] },
    { type: 'int32', data: [fours ? cols / 4 : cols] },
    { type: 'int32', data: [chunk] },
    { type: 'float32', data: [chunks === 1 ? scale : 1] },
  ]);
  return { sums, chunks };
}

/**
 * Row sums of an `[rows, cols]` matrix in chunks, into `[rows, chunks]`.
 *
 * Workgroup: 256 invocations on one chunk of one row (workgroup (k, row)); they stride by 256 so
 * neighbours read neighbouring values, then halve in workgroup memory in 8 steps.
 */
export class RowSumProgram implements WebGPUProgram {
  readonly variableNames = ['x'];
  readonly uniforms = 'rows : i32, cols : i32, chunk : i32, chunks : i32, scale : f32,';
  readonly workgroupSize: [number, number, number] = [256, 1, 1];
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  shaderKey = 'tlRowSum';

  constructor(rows: number, chunks: number, outputShape: readonly number[]) {
    this.outputShape = [...outputShape];
    this.dispatch = [chunks, rows, 1];
  }

  getUserCode(): string {
    return `
      var<workgroup> part : array<f32, 256>;

      fn main() {
        let row = i32(workgroupId.y);
        let k = i32(workgroupId.x);
        let first = k * uniforms.chunk;
        let last = min(uniforms.cols, first + uniforms.chunk);
        var acc = 0.0;
        for (var i = first + i32(localIndex); i < last; i += 256) {
          acc += x[row * uniforms.cols + i];
        }
        part[localIndex] = acc;
        workgroupBarrier();
        for (var half = 128u; half > 0u; half = half >> 1u) {
          if (localIndex < half) {
            part[localIndex] += part[localIndex + half];
          }
          workgroupBarrier();
        }
        if (localIndex == 0u) {
          result[row * uniforms.chunks + k] = part[0] * uniforms.scale;
        }
      }`;
  }
}

/** How many chunks to cut `length` items into: enough workgroups, at least `minChunk` items each. */
export function chunkCount(length: number, otherWorkgroups: number, minChunk: number, maxChunks = MAX_DISPATCH): number {
  const wanted = Math.max(1, Math.floor(TARGET_WORKGROUPS / Math.max(1, otherWorkgroups)));
  return Math.max(1, Math.min(wanted, Math.ceil(length / minChunk), maxChunks));
}

/** Whether `sumColumns` can take a matrix of this many columns (the dispatch limit). */
export function columnsFit(cols: number): boolean {
  return groups(cols, 64) <= MAX_DISPATCH;
}

/**
 * One pass of the column sums of `x`, seen as `[rows, cols]`, in chunks (columnSumsPass), each
 * chunk's sums a row of `[rows', cols]`. With one chunk the result is the sums times `scale`,
 * shaped `outShape`.
 */
export function columnSumPass(backend: WebGPUBackend, x: tf.TensorInfo, rows: number, cols: number, scale: number, outShape: readonly number[]): { sums: tf.TensorInfo; rows: number } {
  const program = (chunks: number, fours: boolean) => new ColumnSumProgram(chunks, cols, chunks === 1 ? outShape : [chunks, cols], fours);
  const { sums, chunks } = columnSumsPass(backend, program, [x], rows, cols, scale);
  return { sums, rows: chunks };
}

/**
 * Sums `x`, seen as `[rows, cols]`, over its rows, times `scale`; the result has `outShape`
 * (of size `cols`). Two passes when the rows are many: chunks, then the chunk partials.
 */
export function sumColumns(backend: WebGPUBackend, x: tf.TensorInfo, rows: number, cols: number, scale: number, outShape: readonly number[]): tf.TensorInfo {
  const first = columnSumPass(backend, x, rows, cols, scale, outShape);
  if (first.rows === 1) return first.sums;
  const out = sumColumns(backend, first.sums, first.rows, cols, scale, outShape);
  release(backend, first.sums);
  return out;
}

/**
 * Sums `x`, seen as `[rows, cols]`, over its columns, times `scale`; the result has `outShape`
 * (of size `rows`). `rows` must fit one dispatch dimension.
 */
export function sumRows(backend: WebGPUBackend, x: tf.TensorInfo, rows: number, cols: number, scale: number, outShape: readonly number[]): tf.TensorInfo {
  const chunks = chunkCount(cols, rows, 4096);
  const chunk = Math.ceil(cols / chunks);
  const used = Math.ceil(cols / chunk);
  const first = runProgram(backend, new RowSumProgram(rows, used, used === 1 ? outShape : [rows, used]), [view(x, [rows, cols])], [
    { type: 'int32', data: [rows] },
    { type: 'int32', data: [cols] },
    { type: 'int32', data: [chunk] },
    { type: 'int32', data: [used] },
    { type: 'float32', data: [used === 1 ? scale : 1] },
  ]);
  if (used === 1) return first;
  const out = sumRows(backend, first, rows, used, scale, outShape);
  release(backend, first);
  return out;
}
