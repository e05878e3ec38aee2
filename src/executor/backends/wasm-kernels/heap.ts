/**
 * The wasm backend's heap as TL's kernels that work on it see it: outputs made in it, float32
 * views of its tensors, its memory and allocator for their WebAssembly and scratch. Views only
 * after every allocation of a kernel: growing the heap detaches the views taken before.
 */
import * as tf from '@tensorflow/tfjs';
import { noteWriteInPlace } from '../in-place-writes.ts';

/** What these kernels need of the wasm backend (public methods of tfjs-backend-wasm 4.22's class). */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  refCount(dataId: tf.DataId): number;
}

export function heapOf(backend: unknown): WasmHeap {
  const b = backend as Partial<WasmHeap> | null;
  if (typeof b?.makeOutput !== 'function' || typeof b.typedArrayFromHeap !== 'function' || typeof b.refCount !== 'function') {
    throw new Error('this kernel needs the wasm backend');
  }
  return b as WasmHeap;
}

/** The named inputs as float32 views of the heap. */
export function views(heap: WasmHeap, inputs: tf.NamedTensorInfoMap, names: readonly string[], kernel: string): Float32Array[] {
  return names.map((name) => {
    const t = inputs[name];
    if (t === undefined) throw new Error(`${kernel} needs ${name}`);
    return heap.typedArrayFromHeap(t);
  });
}

/** The wasm backend's memory and allocator (tfjs-backend-wasm 4.22's emscripten module). */
export interface WasmMemory {
  readonly memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(pointer: number): void;
}

export function memoryOf(backend: unknown): WasmMemory {
  const module = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown; _malloc?: unknown; _free?: unknown } } | null)?.wasm;
  // The single-threaded builds export their memory; the threaded one creates it in JavaScript and shares it.
  const memory = module?.asm?.memory ?? module?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory) || typeof module?._malloc !== 'function' || typeof module._free !== 'function') {
    throw new Error('this kernel needs the wasm backend of tfjs 4.22 (its module exposes its memory and allocator)');
  }
  const malloc = module._malloc as (bytes: number) => number;
  const free = module._free as (pointer: number) => void;
  // emscripten's malloc returns an i32: past 2 GB of heap a negative number, as an address unsigned.
  return { memory, malloc: (bytes) => malloc(bytes) >>> 0, free: (pointer) => free(pointer) };
}

/** Runs `work` with `bytes` of the heap allocated for it and zeroed (kernels add into them), and frees them. */
export function withScratch<T>({ memory, malloc, free }: WasmMemory, bytes: number, work: (pointer: number) => T): T {
  const pointer = malloc(bytes);
  try {
    new Uint8Array(memory.buffer, pointer, bytes).fill(0);
    return work(pointer);
  } finally {
    free(pointer);
  }
}

/**
 * Makes `variable`'s heap memory its own, so that a kernel may write its new value there, and
 * returns it. A variable sharing its memory (with a clone: early stopping keeps the best weights
 * that way) first gets a copy, as tfjs's `assign` would have given it new memory.
 */
export function writableInPlace(variable: tf.Variable): tf.Variable {
  if (heapOf(tf.backend()).refCount(variable.dataId) > 1) {
    const own = tf.tensor(variable.dataSync(), variable.shape, variable.dtype);
    variable.assign(own);
    own.dispose();
  }
  // Caches keyed by data ids (folded weights) must see the new values.
  noteWriteInPlace(variable);
  return variable;
}
