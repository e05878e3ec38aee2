/**
 * Sum and Mean for float32 tensors through the chunked sums of reduce-programs.ts, when the reduced
 * axes need no transpose: leading axes (per-channel statistics of NHWC activations, bias and
 * broadcast gradients) or trailing axes with few outputs (a sum to a scalar). Any other case goes
 * to the backend's own kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { MAX_DISPATCH, sizeOf, webgpuBackendOf } from './backend.ts';
import { takeColumnSums } from './conv2d-backprop-filter.ts';
import { columnsFit, sumColumns, sumRows } from './reduce-programs.ts';

/** A reduction seen as a matrix: sum over its rows (`columns`) or over its columns (`rows`). */
export type ReducePlan = { readonly kind: 'columns' | 'rows'; readonly rows: number; readonly cols: number };

/** Below this many outputs the backend's one-workgroup-per-output kernel leaves the GPU idle. */
const FEW_OUTPUTS = 1024;
/** Rows shorter than this are summed well enough by one workgroup each. */
const LONG_ROW = 4096;

/** How to reduce `shape` over `axes` without a transpose, or null to leave it to the backend. */
export function planReduction(shape: readonly number[], axes: readonly number[]): ReducePlan | null {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  const rank = shape.length;
  if (rank === 0 || sorted.length === 0 || sizeOf(shape) === 0) return null;
  const leading = sorted.every((a, i) => a === i);
  const trailing = sorted.every((a, i) => a === rank - sorted.length + i);
  if (leading && sorted.length < rank) {
    const rows = sizeOf(shape.slice(0, sorted.length));
    const cols = sizeOf(shape.slice(sorted.length));
    return columnsFit(cols) ? { kind: 'columns', rows, cols } : null;
  }
  if (trailing) {
    const rows = sizeOf(shape.slice(0, rank - sorted.length));
    const cols = sizeOf(shape.slice(rank - sorted.length));
    return rows < FEW_OUTPUTS && rows <= MAX_DISPATCH && cols >= LONG_ROW ? { kind: 'rows', rows, cols } : null;
  }
  return null;
}

function reduceKernel(mean: boolean, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    const { axis, keepDims } = (args.attrs ?? {}) as unknown as tf.SumAttrs;
    if (x === undefined || x.dtype !== 'float32') return fallback(args);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const plan = planReduction(x.shape, axes);
    if (plan === null) return fallback(args);
    const kept = x.shape.filter((_, i) => !axes.includes(i));
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept;
    const count = sizeOf(x.shape) / sizeOf(kept);
    const scale = mean ? 1 / count : 1;
    // A bias gradient: the filter gradient's pass over the same dy has summed its columns.
    const known = plan.kind === 'columns' && !mean && !keepDims && kept.length === 1 ? takeColumnSums(x) : undefined;
    if (known !== undefined) return known;
    const backend = webgpuBackendOf(args.backend);
    return plan.kind === 'columns'
      ? sumColumns(backend, x, plan.rows, plan.cols, scale, outShape)
      : sumRows(backend, x, plan.rows, plan.cols, scale, outShape);
  };
}

/** The Sum kernel: float32 sums over leading axes, or over trailing axes into few values. */
export const makeSum = (fallback: tf.KernelFunc): tf.KernelFunc => reduceKernel(false, fallback);
/** The Mean kernel: as Sum, scaled by one over the number of values reduced. */
export const makeMean = (fallback: tf.KernelFunc): tf.KernelFunc => reduceKernel(true, fallback);
