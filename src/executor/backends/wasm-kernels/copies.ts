/**
 * Slice and Reverse on wasm as copies of contiguous runs. The shipped Slice copies one innermost
 * row at a time through a new subarray each (145 ms to crop [32, 49, 49, 96] to 48x48, the
 * gradient of MobileNetV2's ZeroPadding2D: about a sixth of its training step); the shipped
 * Reverse computes every element's index (18 ms to flip a 1x1x1280x320 filter, which the
 * convolutions' input gradients flip every step). Here the axes past the last one sliced or
 * reversed are one run, copied with copyWithin on the heap; a reversed last axis is copied
 * element by element. Strings (not in the heap) go to the shipped kernels (tfjs's reverse op refuses them).
 *
 * Identity copies nothing: its output shares the input's memory, counted, as on tfjs's cpu and
 * webgpu backends. The shipped kernel copied, and the engine runs it for every tensor a gradient
 * keeps (about 335 copies a MobileNetV2 training step). Nothing may write into memory two tensors
 * share: TL's in-place writers copy first (heap.ts, writableInPlace). Strings share theirs too.
 */
import * as tf from '@tensorflow/tfjs';
import { replacedKernel } from '../registry.ts';
import { heapOf } from './heap.ts';

/** Row-major strides, in elements. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  return strides;
}

/**
 * Visits every position of the leading `counts.length` axes in row-major order, with the source
 * offset (in elements) that `step[i]` per unit of axis i and `start` give it.
 */
function forEachRun(counts: readonly number[], step: readonly number[], start: number, visit: (source: number, index: number) => void): void {
  const total = counts.reduce((a, b) => a * b, 1);
  const at = new Array<number>(counts.length).fill(0);
  let source = start;
  for (let index = 0; index < total; index++) {
    visit(source, index);
    for (let axis = counts.length - 1; axis >= 0; axis--) {
      source += step[axis]!;
      if (++at[axis]! < counts[axis]!) break;
      source -= step[axis]! * counts[axis]!;
      at[axis] = 0;
    }
  }
}

/** The input and output as views of the heap (typed by their dtype), and the whole heap as bytes. */
interface HeapViews {
  readonly source: tf.TypedArray;
  readonly target: tf.TypedArray;
  readonly bytes: Uint8Array;
  /** Bytes an element. */
  readonly width: number;
}

function heapViews(backend: unknown, x: tf.TensorInfo, out: tf.TensorInfo): HeapViews {
  const heap = heapOf(backend);
  const source = heap.typedArrayFromHeap(x);
  const target = heap.typedArrayFromHeap(out);
  return { source, target, bytes: new Uint8Array(source.buffer), width: source.BYTES_PER_ELEMENT };
}

/** Copies runs of `run` elements: the i-th (as forEachRun visits them) to the output's i-th run. */
function copyRuns({ source, target, bytes, width }: HeapViews, counts: readonly number[], step: readonly number[], start: number, run: number): void {
  const runBytes = run * width;
  forEachRun(counts, step, start, (offset, index) => {
    const at = source.byteOffset + offset * width;
    bytes.copyWithin(target.byteOffset + index * runBytes, at, at + runBytes);
  });
}

export const slice: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const x = inputs['x'];
  if (x === undefined) throw new Error('Slice needs x');
  if (x.dtype === 'string') return replacedKernel('Slice', 'wasm')(args);
  const { begin, size } = attrs as unknown as tf.SliceAttrs;
  const [from, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size) as [number[], number[]];
  const out = heapOf(backend).makeOutput(sizes, x.dtype);
  if (sizes.some((s) => s === 0)) return out;
  // The last axis that is cut (an axis of full size starts at 0); the ones after it are whole, so one run covers them.
  let last = sizes.length - 1;
  while (last > 0 && sizes[last] === x.shape[last]) last--;
  const strides = stridesOf(x.shape);
  const start = from.reduce((sum, b, axis) => sum + b * strides[axis]!, 0);
  copyRuns(heapViews(backend, x, out), sizes.slice(0, last), strides.slice(0, last), start, sizes[last]! * strides[last]!);
  return out;
};

export const reverse: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const x = inputs['x'];
  if (x === undefined) throw new Error('Reverse needs x');
  if (x.dtype === 'string') return replacedKernel('Reverse', 'wasm')(args);
  const { dims } = attrs as unknown as tf.ReverseAttrs;
  const shape = x.shape;
  // Axes of length 1 reverse to themselves.
  const reversed = new Set(tf.util.parseAxisParam(dims, shape).filter((axis) => shape[axis]! > 1));
  const out = heapOf(backend).makeOutput(shape, x.dtype);
  if (tf.util.sizeFromShape(shape) === 0) return out;
  const views = heapViews(backend, x, out);
  const strides = stridesOf(shape);
  // Runs of what follows the last reversed axis, or of a whole row when that axis is the last.
  const last = Math.max(-1, ...reversed);
  const lastAxis = shape.length - 1;
  const outer = last === lastAxis ? lastAxis : last + 1;
  const counts = shape.slice(0, outer);
  const step = counts.map((_, axis) => (reversed.has(axis) ? -strides[axis]! : strides[axis]!));
  const start = counts.reduce((sum, n, axis) => sum + (reversed.has(axis) ? (n - 1) * strides[axis]! : 0), 0);
  if (last === lastAxis) {
    const { source, target } = views;
    const row = shape[lastAxis]!;
    forEachRun(counts, step, start, (offset, index) => {
      for (let i = 0, o = index * row, s = offset + row - 1; i < row; i++) target[o + i] = source[s - i]!;
    });
  } else copyRuns(views, counts, step, start, shape.slice(outer).reduce((a, b) => a * b, 1));
  return out;
};

export const identity: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs['x'];
  if (x === undefined) throw new Error('Identity needs x');
  (backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};
