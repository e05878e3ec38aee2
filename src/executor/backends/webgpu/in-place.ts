/**
 * Writing into a variable's own buffer, where nothing else can see it change.
 *
 * tfjs's tensors are immutable: an optimizer writes each new value to a new tensor and assigns it
 * to the variable. So every step takes new buffers for every weight and every state slot, and every
 * dispatch that reads a weight binds another buffer than it did the step before, so no bind group
 * is made twice (bind-group-cache.ts). TL's optimizer updates write into the variables' buffers
 * instead (optimizers.ts).
 *
 * That is only unseen while the variable is the sole holder of its buffer and no read of it is on
 * the way. A clone shares the buffer (early stopping keeps the best weights that way), and a read
 * in flight caches the values it fetched on the CPU when it lands, which would be the old ones once
 * the write is queued. So a variable that is shared or being read first gets a copy of its own,
 * as tfjs's `assign` would have given it a new buffer. Values cached on the CPU by an earlier read
 * are dropped before the write, so the next read fetches the new ones, and the write is counted
 * (in-place-writes.ts) for caches that key on data ids.
 */
import * as tf from '@tensorflow/tfjs';
import { noteWriteInPlace } from '../in-place-writes.ts';
import { gpuBufferOf, submitPending, swapMethod, type WebGPUBackend } from './backend.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';

/** The parts of the backend this touches (private in tfjs's typings). */
interface Internals {
  readonly queue: GPUQueue;
  readonly tensorMap: { get(dataId: unknown): { values: unknown; resource: unknown; external?: boolean } | undefined };
  read(dataId: unknown): Promise<unknown>;
  refCount(dataId: unknown): number;
  uploadToGPU(dataId: unknown): void;
}

/** Reads on the way, by data id, per backend instance where tracked. */
const reading = new WeakMap<object, Map<unknown, number>>();

/** Counts the backend's reads in flight, until the returned function puts its own `read` back. */
export function trackReads(backend: WebGPUBackend): () => void {
  const b = backend as unknown as Internals;
  const inFlight = new Map<unknown, number>();
  reading.set(b, inFlight);
  const restore = swapMethod(b, 'read', (own) =>
    async function (this: Internals, dataId: unknown) {
      inFlight.set(dataId, (inFlight.get(dataId) ?? 0) + 1);
      try {
        return await own.call(this, dataId);
      } finally {
        const left = inFlight.get(dataId)! - 1;
        if (left === 0) inFlight.delete(dataId);
        else inFlight.set(dataId, left);
      }
    },
  );
  return () => {
    restore();
    reading.delete(b);
  };
}

const COPY: MultiOutputProgram = { key: 'tlCopy', inputs: ['x'], outputs: ['y'], uniforms: '', body: 'y[index] = x[index];' };

/**
 * Whether `variable` alone holds its buffer, on the GPU side, with no read of it on the way: a write
 * into that buffer is then seen by nobody but the variable. False where reads are not tracked.
 */
export function ownsItsBuffer(backend: WebGPUBackend, variable: tf.Tensor): boolean {
  const b = backend as unknown as Internals;
  const inFlight = reading.get(b);
  const data = b.tensorMap.get(variable.dataId);
  return inFlight !== undefined && !inFlight.has(variable.dataId) && b.refCount(variable.dataId) === 1 && data !== undefined && data.external !== true;
}

/** What watches the in-place writes (step-graph.ts, while it records a step), if anything. */
let watcher: ((variable: tf.Variable) => void) | null = null;

/** Calls `watch` with every variable made writable in place, until called again with null. */
export function watchWritesInPlace(watch: ((variable: tf.Variable) => void) | null): void {
  watcher = watch;
}

/**
 * Marks a write into `variable`'s own buffer: values cached on the CPU by an earlier read are
 * dropped, so the next read fetches the new ones, and caches keyed by data ids (folded weights)
 * see the write.
 */
export function noteWrittenInPlace(backend: WebGPUBackend, variable: tf.Tensor): void {
  (backend as unknown as Internals).tensorMap.get(variable.dataId)!.values = null;
  noteWriteInPlace(variable);
}

/**
 * Makes `variable`'s buffer its own, on the GPU and not cached on the CPU, so that a program may
 * write its new value into it; returns the variable, to bind. Where reads are not tracked on this
 * backend, every variable gets a fresh copy (as correct as tfjs's own updates, and as dear).
 */
export function writableInPlace(backend: WebGPUBackend, variable: tf.Variable): tf.Variable {
  const b = backend as unknown as Internals;
  if (!ownsItsBuffer(backend, variable)) {
    const [copy] = runMultiOutput(backend, COPY, [variable], [variable.shape], variable.size, []);
    const fresh = tf.engine().makeTensorFromTensorInfo(copy!);
    variable.assign(fresh);
    fresh.dispose();
  }
  b.uploadToGPU(variable.dataId);
  noteWrittenInPlace(backend, variable);
  watcher?.(variable);
  return variable;
}

/**
 * Writes `values` from JavaScript into `tensor`'s own buffer, where it alone holds it (false, and
 * nothing written, where not). Work queued before and not yet submitted is submitted first: the
 * write lands before everything not yet submitted, and that work must read the old values.
 */
export function writeInPlace(backend: WebGPUBackend, tensor: tf.Tensor, values: Float32Array): boolean {
  if (tensor.dtype !== 'float32' || tensor.size !== values.length || !ownsItsBuffer(backend, tensor)) return false;
  const buffer = gpuBufferOf(backend, tensor);
  submitPending(backend);
  (backend as unknown as Internals).queue.writeBuffer(buffer, 0, values);
  noteWrittenInPlace(backend, tensor);
  return true;
}
