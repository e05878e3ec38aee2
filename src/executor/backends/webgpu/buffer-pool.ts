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

/** Installs the order and the release on one backend's pool; returns what puts tfjs's back. */
export function orderBufferPool(backend: WebGPUBackend): () => void {
  const manager = (backend as unknown as { bufferManager: Manager }).bufferManager;
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
      const { id, key, size } = knownOf(buffer);
      const used = this.usedBuffers.get(key);
      const at = used === undefined ? -1 : used.indexOf(buffer);
      if (at < 0) throw new Error('Cannot find the buffer in buffer manager');
      used![at] = used![used!.length - 1]!;
      used!.pop();
      this.numUsedBuffers--;
      this.numBytesUsed -= size;
      if (!reuse) {
        buffer.destroy();
        this.numBytesAllocated -= size;
        return;
      }
      // Kept in decreasing id, the first made last (acquireBuffer pops).
      let free = this.freeBuffers.get(key);
      if (free === undefined) this.freeBuffers.set(key, (free = []));
      let to = free.length;
      while (to > 0 && knownOf(free[to - 1]!).id < id) to--;
      free.splice(to, 0, buffer);
      this.numFreeBuffers++;
    },
  );

  return () => {
    restoreRelease();
    restoreAcquire();
  };
}
