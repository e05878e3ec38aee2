/**
 * The buffer pool's order and release (src/executor/backends/webgpu/buffer-pool.ts): the free
 * buffer made first is handed out first, whatever order they were freed in, and the pool's lists
 * and counts stay what tfjs's own release leaves for the same calls.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { bufferPins, orderBufferPool } from '../../src/executor/backends/webgpu/buffer-pool.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

interface Manager {
  readonly freeBuffers: Map<string, GPUBuffer[]>;
  readonly usedBuffers: Map<string, GPUBuffer[]>;
  readonly numUsedBuffers: number;
  readonly numFreeBuffers: number;
  readonly numBytesUsed: number;
  readonly numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  dispose(): void;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A pool of its own on the backend's device, as tfjs makes one (BufferManager's constructor). */
function freshPool(): Manager {
  const backend = webgpuBackendOf(tf.backend()) as unknown as { bufferManager: Manager; device: GPUDevice };
  const Pool = backend.bufferManager.constructor as new (device: GPUDevice) => Manager;
  return new Pool(backend.device);
}

/** `pool` as a backend's, for orderBufferPool. */
const asBackend = (pool: Manager) => ({ bufferManager: pool }) as unknown as Parameters<typeof orderBufferPool>[0];

/** Everything the pool counts, and its lists by key as sizes. */
function stateOf(pool: Manager): unknown {
  const lists = (m: Map<string, GPUBuffer[]>) => [...m].map(([key, list]) => [key, list.length]).sort();
  const { numUsedBuffers, numFreeBuffers, numBytesUsed, numBytesAllocated } = pool;
  return { numUsedBuffers, numFreeBuffers, numBytesUsed, numBytesAllocated, free: lists(pool.freeBuffers), used: lists(pool.usedBuffers) };
}

describe.skipIf(!env.ok)(`buffer pool on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('hands out the free buffer made first, whatever order they were freed in', async () => {
    await tf.setBackend('webgpu');
    const pool = freshPool();
    const restore = orderBufferPool(asBackend(pool));
    try {
      const made = [0, 1, 2, 3].map(() => pool.acquireBuffer(256, STORAGE()));
      const other = pool.acquireBuffer(512, STORAGE());
      for (const i of [2, 0, 3, 1]) pool.releaseBuffer(made[i]!);
      pool.releaseBuffer(other);
      expect([0, 1, 2, 3].map(() => pool.acquireBuffer(256, STORAGE()))).toEqual(made);
      expect(pool.acquireBuffer(512, STORAGE())).toBe(other);
      // Freed in another order again: the same order out.
      for (const i of [1, 3, 0, 2]) pool.releaseBuffer(made[i]!);
      expect(pool.acquireBuffer(256, STORAGE())).toBe(made[0]);
      expect(pool.acquireBuffer(256, STORAGE())).toBe(made[1]);
    } finally {
      restore();
      pool.dispose();
    }
  });

  it('keeps a pinned buffer out of the pool until unpinned as often as pinned, and then hands it out in its order', async () => {
    await tf.setBackend('webgpu');
    const pool = freshPool();
    const backend = asBackend(pool);
    const restore = orderBufferPool(backend);
    try {
      const pins = bufferPins(backend)!;
      const made = [0, 1, 2].map(() => pool.acquireBuffer(256, STORAGE()));
      pool.releaseBuffer(made[0]!);
      // Pinned while free: off the free list. Pinned while in use (twice): held when released, not
      // destroyed even when released so.
      pins.pin([made[0]!, made[1]!]);
      pins.pin([made[1]!]);
      pool.releaseBuffer(made[1]!, false);
      pool.releaseBuffer(made[2]!, false);
      expect(pins.counts).toEqual({ pinned: 2, held: 2 });
      expect(pool.numFreeBuffers).toBe(0);
      const fresh = pool.acquireBuffer(256, STORAGE());
      expect(made).not.toContain(fresh);
      pins.unpin([made[0]!, made[1]!]);
      // made[1] is pinned once more: still held.
      expect(pins.counts).toEqual({ pinned: 1, held: 1 });
      expect(pool.acquireBuffer(256, STORAGE())).toBe(made[0]);
      expect(pool.numFreeBuffers).toBe(0);
      pins.unpin([made[1]!]);
      expect(pins.counts).toEqual({ pinned: 0, held: 0 });
      expect(pool.acquireBuffer(256, STORAGE())).toBe(made[1]);
    } finally {
      restore();
      pool.dispose();
    }
  });

  it('leaves the lists and counts tfjs\'s own release leaves, and fails as it does on a stranger', async () => {
    await tf.setBackend('webgpu');
    const run = (ordered: boolean) => {
      const pool = freshPool();
      const early = pool.acquireBuffer(1024, STORAGE()); // handed out before the order is installed
      const restore = ordered ? orderBufferPool(asBackend(pool)) : () => {};
      try {
        const bs = [256, 256, 1024, 64, 256].map((size) => pool.acquireBuffer(size, STORAGE()));
        const uniform = pool.acquireBuffer(64, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
        const staging = pool.acquireBuffer(64, GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, true, false);
        pool.releaseBuffer(staging, false); // destroyed
        for (const b of [bs[1]!, early, uniform, bs[3]!, bs[0]!]) pool.releaseBuffer(b);
        pool.acquireBuffer(256, STORAGE());
        const elsewhere = freshPool();
        expect(() => pool.releaseBuffer(elsewhere.acquireBuffer(256, STORAGE()))).toThrow('Cannot find the buffer in buffer manager');
        elsewhere.dispose();
        return stateOf(pool);
      } finally {
        restore();
        pool.dispose();
      }
    };
    const tfjs = run(false);
    expect(run(true)).toEqual(tfjs);
    expect(tfjs).toMatchObject({ numUsedBuffers: 3, numFreeBuffers: 4 });
  });

  it('asks Dawn for a buffer\'s size and usage only the first time it meets the buffer', async () => {
    await tf.setBackend('webgpu');
    const pool = freshPool();
    const restore = orderBufferPool(asBackend(pool));
    const proto = Object.getPrototypeOf(pool.acquireBuffer(64, STORAGE())) as object;
    const asked = { size: 0, usage: 0 };
    const own = (['size', 'usage'] as const).map((name) => [name, Object.getOwnPropertyDescriptor(proto, name)] as const);
    for (const [name, d] of own) {
      Object.defineProperty(proto, name, { ...d, get(this: GPUBuffer) { asked[name]++; return d!.get!.call(this); } });
    }
    try {
      const made = [0, 1, 2, 3, 4, 5].map(() => pool.acquireBuffer(256, STORAGE()));
      for (let round = 0; round < 3; round++) {
        for (const i of [3, 0, 5, 1, 4, 2]) pool.releaseBuffer(made[i]!);
        for (let i = 0; i < 6; i++) pool.acquireBuffer(256, STORAGE());
      }
      expect(asked).toEqual({ size: 0, usage: 0 });
    } finally {
      for (const [name, d] of own) Object.defineProperty(proto, name, d!);
      restore();
      pool.dispose();
    }
  });
});
