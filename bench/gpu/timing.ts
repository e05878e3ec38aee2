/** Timing helpers for the GPU benchmark: WebGPU work is queued, so every figure ends with a read. */
import * as tf from '@tensorflow/tfjs';
import { waitFor as sync } from '../../src/executor/backends/webgpu/tune.ts';

/** Waits for the GPU to finish everything queued before `t` by reading one value of it. */
export { sync };

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

/**
 * Runs `make` `n` times as TL's loops run steps and predictions: each result read (by `read`) after
 * the next is queued, so that the host builds the next while the GPU runs this one; the last read
 * at the end.
 */
export async function pipelined(make: () => tf.Tensor, n: number, read: (t: tf.Tensor) => Promise<unknown>): Promise<void> {
  let previous: tf.Tensor | undefined;
  for (let i = 0; i < n; i++) {
    const next = make();
    if (previous) await read(previous);
    previous?.dispose();
    previous = next;
  }
  if (previous) await read(previous);
  previous?.dispose();
}

/** Seconds per call of an async step, `reps` times after `warm`. */
export async function msPerStep(step: () => Promise<void>, reps: number, warm = 2): Promise<number> {
  for (let i = 0; i < warm; i++) await step();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await step();
  return (performance.now() - t0) / reps;
}

export const fmt = (v: number | null | undefined, digits = 2): string => (v == null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/**
 * What one call queued on the GPU (programs dispatched, tensors uploaded from JavaScript) and the
 * host time it took to queue it: `hostMs` from the call until its first read-back (a training step
 * reads its loss once everything is queued), less `submitMs`, the time inside the backend's submits.
 * On a GPU both are host work, and a step whose host time reaches its wall time is host-bound. On
 * the software adapter a submit also runs the shaders (all of them with LP_NUM_THREADS=0), so
 * there `hostMs` alone is the host's part.
 */
export interface Work {
  readonly dispatches: number;
  readonly uploads: number;
  readonly hostMs: number;
  readonly submitMs: number;
}

interface CountedBackend {
  readonly device: { createBindGroup(...args: unknown[]): unknown };
  uploadToGPU(dataId: unknown): void;
  submitQueue(): void;
  read(dataId: unknown): Promise<unknown>;
  tensorMap: { get(dataId: unknown): { resource?: unknown; values?: unknown } | undefined };
}

/**
 * Counts and times the work one call of `step` queues on the webgpu backend, by wrapping the
 * backend's methods for the call. Every dispatch, tfjs's programs' and TL's multi-output ones',
 * binds one new bind group: that is where they are counted.
 */
export async function countWork(step: () => Promise<void>): Promise<Work> {
  const backend = tf.backend() as unknown as CountedBackend;
  const { uploadToGPU: upload, submitQueue: submit, read } = backend;
  const { device } = backend;
  const bind = device.createBindGroup;
  let dispatches = 0;
  let uploads = 0;
  let submitMs = 0;
  let readAt: number | undefined;
  device.createBindGroup = function (...args: unknown[]) {
    dispatches++;
    return bind.apply(this, args);
  };
  backend.uploadToGPU = function (dataId: unknown) {
    const data = backend.tensorMap.get(dataId);
    if (data?.resource == null && data?.values != null) uploads++;
    return upload.call(this, dataId);
  };
  backend.submitQueue = function () {
    const t = performance.now();
    submit.call(this);
    if (readAt === undefined) submitMs += performance.now() - t;
  };
  backend.read = function (dataId: unknown) {
    readAt ??= performance.now();
    return read.call(this, dataId);
  };
  const t0 = performance.now();
  try {
    await step();
  } finally {
    Object.assign(backend, { uploadToGPU: upload, submitQueue: submit, read });
    device.createBindGroup = bind;
  }
  return { dispatches, uploads, hostMs: (readAt ?? performance.now()) - t0 - submitMs, submitMs };
}

/** The work of `step` with the least host time of `reps` calls (the host is shared; the least is the least disturbed). */
export async function leastWork(step: () => Promise<void>, reps: number): Promise<Work> {
  let best: Work | undefined;
  for (let i = 0; i < reps; i++) {
    const work = await countWork(step);
    if (best === undefined || work.hostMs < best.hostMs) best = work;
  }
  return best!;
}
