/**
 * Writes into a tensor's own buffer: how many times each variable was written so
 * (webgpu/in-place.ts), and the backends that can write values from JavaScript so. A tensor's data
 * id names its buffer, and tfjs gives a variable new data at every assign, so caches of values
 * derived from variables key on data ids (fold-batchnorm.ts). A write in place keeps the data id,
 * so those caches key on this count as well.
 */
import * as tf from '@tensorflow/tfjs';

const writes = new WeakMap<object, number>();

/** Records a write into `variable`'s own buffer. */
export function noteWriteInPlace(variable: object): void {
  writes.set(variable, (writes.get(variable) ?? 0) + 1);
}

/** The writes into `variable`'s own buffer so far (0 where there were none). */
export function writesInPlace(variable: object): number {
  return writes.get(variable) ?? 0;
}

/** Writes values from JavaScript into a tensor's own buffer; false, and nothing written, where it cannot. */
export type ValueWriter = (tensor: tf.Tensor, values: Float32Array) => boolean;

const valueWriters = new Map<string, ValueWriter>();

/** Sets (or, with undefined, drops) how `backendName` writes values in place. */
export function setValueWriter(backendName: string, writer: ValueWriter | undefined): void {
  if (writer === undefined) valueWriters.delete(backendName);
  else valueWriters.set(backendName, writer);
}

/**
 * Writes `values` into `tensor`'s own buffer where the active backend can (webgpu, where the
 * tensor alone holds its buffer): its data stays, so whatever binds that buffer (a recorded step,
 * webgpu/step-graph.ts) sees the new values. False where it cannot; the caller then assigns.
 */
export function writeValuesInPlace(tensor: tf.Tensor, values: Float32Array): boolean {
  return valueWriters.get(tf.getBackend())?.(tensor, values) ?? false;
}
