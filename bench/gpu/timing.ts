/** Timing helpers for the GPU benchmark: WebGPU work is queued, so every figure ends with a read. */
import * as tf from '@tensorflow/tfjs';

/** Waits for the GPU to finish everything queued before `t` by reading one value of it. */
export async function sync(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), 0, 1));
  await one.data();
  one.dispose();
}

/**
 * Milliseconds per call of `make`, run `reps` times back to back after `warm` calls, synchronised
 * once at the end on one value of the last result (not on a full read-back, which for large outputs
 * costs more than the kernel: see the read-back row of the elementwise table).
 */
export async function msPerCall(make: () => tf.Tensor | tf.Tensor[], reps: number, warm = 2): Promise<number> {
  const run = async (n: number) => {
    let last: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      tf.dispose(last);
      const r = make();
      last = Array.isArray(r) ? r : [r];
    }
    await Promise.all(last.map((t) => sync(t)));
    tf.dispose(last);
  };
  await run(warm);
  const t0 = performance.now();
  await run(reps);
  return (performance.now() - t0) / reps;
}

/**
 * GPU time of one call of `make` from timestamp queries (tf.time's kernelMs), or null when the
 * adapter has none.
 */
export async function kernelMs(make: () => tf.Tensor | tf.Tensor[], timestamps: boolean): Promise<number | null> {
  if (!timestamps) return null;
  const warm = make();
  await Promise.all((Array.isArray(warm) ? warm : [warm]).map((t) => sync(t)));
  tf.dispose(warm);
  const info = await tf.time(() => {
    tf.dispose(make());
  });
  return info.kernelMs as number;
}

/** Seconds per call of an async step, `reps` times after `warm`. */
export async function msPerStep(step: () => Promise<void>, reps: number, warm = 2): Promise<number> {
  for (let i = 0; i < warm; i++) await step();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await step();
  return (performance.now() - t0) / reps;
}

export const fmt = (v: number | null | undefined, digits = 2): string => (v == null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** What one call queued on the GPU: programs dispatched, and tensors uploaded from JavaScript. */
export interface Work {
  readonly dispatches: number;
  readonly uploads: number;
}

interface CountedBackend {
  runWebGPUProgram(...args: unknown[]): unknown;
  uploadToGPU(dataId: unknown): void;
  tensorMap: { get(dataId: unknown): { resource?: unknown; values?: unknown } | undefined };
}

/**
 * Counts the work one call of `step` queues on the webgpu backend, by wrapping the backend's
 * dispatch and upload methods for the call (the host cost of a step grows with both: each dispatch
 * writes a uniform buffer and makes a bind group, each upload a staging buffer).
 */
export async function countWork(step: () => Promise<void>): Promise<Work> {
  const backend = tf.backend() as unknown as CountedBackend;
  const run = backend.runWebGPUProgram;
  const upload = backend.uploadToGPU;
  let dispatches = 0;
  let uploads = 0;
  backend.runWebGPUProgram = function (...args: unknown[]) {
    dispatches++;
    return run.apply(this, args);
  };
  backend.uploadToGPU = function (dataId: unknown) {
    const data = backend.tensorMap.get(dataId);
    if (data?.resource == null && data?.values != null) uploads++;
    return upload.call(this, dataId);
  };
  try {
    await step();
  } finally {
    backend.runWebGPUProgram = run;
    backend.uploadToGPU = upload;
  }
  return { dispatches, uploads };
}
