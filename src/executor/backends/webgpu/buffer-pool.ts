/**
 * tfjs's buffer pool, made to hand out buffers in an order that repeats from step to step and to
 * take them back without asking Dawn.
 *
 * The order: tfjs's pool (BufferManager) keeps a free list per size and usage and hands out the
 * buffer freed last. The order in which a training step frees its buffers does not repeat from
 * step to step, so neither did the buffers each dispatch bound, and no bind group could be reused
 * (bind-group-cache.ts). Here each free list is kept in the order the buffers were made, and the
 * first made is handed out first: a step that frees and takes buffers as the step before did gets
 * the same ones.
 *
 * Taking back: tfjs asks the buffer for its size and usage at every release, two calls into Dawn's
 * Node bindings, and the list wrapper here asked again. Each buffer's list key and size are noted
 * when the pool hands it out, so a release is JavaScript alone: about 800 a training step.
 *
 * Pins: a recorded training step (step-graph.ts) replays its dispatches on the buffers it bound
 * when it was recorded, so those must stay out of everyone else's hands. A pinned buffer is taken
 * off the free lists and, when its tensor is released, held instead of freed, until unpinned as
 * often as it was pinned (two graphs may bind the same buffer).
 */
import { swapMethod, type WebGPUBackend } from './backend.ts';

/** tfjs-backend-webgpu 4.22's BufferManager, whose fields this keeps as tfjs does. */
interface Manager {
  readonly freeBuffers: Map<string, GPUBuffer[]>;
  readonly usedBuffers: Map<string, GPUBuffer[]>;
  numUsedBuffers: number;
  numFreeBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
}

/** A buffer's place in the order it was made, tfjs's key of its lists, and its size. */
interface Known {
  readonly id: number;
  readonly key: string;
  readonly size: number;
}

/** Buffers kept out of the pool while pinned (see above). */
export interface BufferPins {
  /**
   * Takes `buffers` off the free lists and keeps them off until unpinned. Returns those a tensor
   * holds now (neither free nor held).
   */
  pin(buffers: Iterable<GPUBuffer>): Set<GPUBuffer>;
  /** Calls `listener` with each pinned buffer released from now on, until the returned function is called. */
  onRelease(listener: (buffer: GPUBuffer) => void): () => void;
  /** Undoes one pin of each of `buffers`; those no longer pinned and released meanwhile go on the free lists. */
  unpin(buffers: Iterable<GPUBuffer>): void;
  /** Buffers pinned now, and of those how many no tensor holds. */
  readonly counts: { readonly pinned: number; readonly held: number };
}

const pinsByBackend = new WeakMap<object, BufferPins>();

/** The pins of `backend`'s pool, where the order below is installed on it. */
export function bufferPins(backend: WebGPUBackend): BufferPins | undefined {
  return pinsByBackend.get(backend);
}

/** Installs the order and the release on one backend's pool; returns what puts tfjs's back. */
export function orderBufferPool(backend: WebGPUBackend): () => void {
  const manager = (backend as unknown as { bufferManager: Manager }).bufferManager;
  const pinned = new Map<GPUBuffer, number>();
  const held = new Set<GPUBuffer>();
  const listeners = new Set<(buffer: GPUBuffer) => void>();
  const known = new WeakMap<GPUBuffer, Known>();
  let nextId = 0;
  // A buffer the pool handed out before this was installed is met first at its release. Its size
  // and usage are asked of Dawn only then: each is a call into the native addon (as default
  // parameters they were asked at every release and every step of the ordered insert, about 3 ms
  // of a dry MobileNetV2 step's host time).
  const knownOf = (buffer: GPUBuffer, size?: number, usage?: number): Known => {
    let k = known.get(buffer);
    if (k === undefined) {
      const bytes = size ?? buffer.size;
      known.set(buffer, (k = { id: nextId++, key: `${bytes}_${usage ?? buffer.usage}`, size: bytes }));
    }
    return k;
  };

  const restoreAcquire = swapMethod(manager, 'acquireBuffer', (own) =>
    function (this: Manager, size, usage, mappedAtCreation, reuse) {
      const buffer = own.call(this, size, usage, mappedAtCreation, reuse);
      knownOf(buffer, size, usage);
      return buffer;
    },
  );

  const restoreRelease = swapMethod(manager, 'releaseBuffer', (own, active) =>
    function (this: Manager, buffer, reuse = true) {
      // After dispose() tfjs's release does nothing, as this one then.
      if (!active() || this.freeBuffers.size === 0) return own.call(this, buffer, reuse);
      const { key, size } = knownOf(buffer);
      const used = this.usedBuffers.get(key);
      const at = used === undefined ? -1 : used.indexOf(buffer);
      if (at < 0) throw new Error('Cannot find the buffer in buffer manager');
      used![at] = used![used!.length - 1]!;
      used!.pop();
      this.numUsedBuffers--;
      this.numBytesUsed -= size;
      if (pinned.has(buffer)) {
        held.add(buffer);
        for (const listener of listeners) listener(buffer);
        return;
      }
      if (!reuse) {
        buffer.destroy();
        this.numBytesAllocated -= size;
        return;
      }
      putFree(this, buffer);
    },
  );

  // Kept in decreasing id, the first made last (acquireBuffer pops).
  const putFree = (m: Manager, buffer: GPUBuffer): void => {
    const { id, key } = knownOf(buffer);
    let free = m.freeBuffers.get(key);
    if (free === undefined) m.freeBuffers.set(key, (free = []));
    let to = free.length;
    while (to > 0 && knownOf(free[to - 1]!).id < id) to--;
    free.splice(to, 0, buffer);
    m.numFreeBuffers++;
  };

  pinsByBackend.set(backend, {
    pin(buffers) {
      const inUse = new Set<GPUBuffer>();
      for (const buffer of buffers) {
        const pins = pinned.get(buffer) ?? 0;
        pinned.set(buffer, pins + 1);
        if (held.has(buffer)) continue;
        const free = pins > 0 ? undefined : manager.freeBuffers.get(knownOf(buffer).key);
        const at = free === undefined ? -1 : free.indexOf(buffer);
        if (at < 0) {
          inUse.add(buffer);
          continue;
        }
        free!.splice(at, 1);
        manager.numFreeBuffers--;
        held.add(buffer);
      }
      return inUse;
    },
    onRelease(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    unpin(buffers) {
      for (const buffer of buffers) {
        const pins = pinned.get(buffer);
        if (pins === undefined) continue;
        if (pins > 1) {
          pinned.set(buffer, pins - 1);
          continue;
        }
        pinned.delete(buffer);
        if (held.delete(buffer)) putFree(manager, buffer);
      }
    },
    counts: {
      get pinned() {
        return pinned.size;
      },
      get held() {
        return held.size;
      },
    },
  });

  return () => {
    pinsByBackend.delete(backend);
    restoreRelease();
    restoreAcquire();
  };
}
