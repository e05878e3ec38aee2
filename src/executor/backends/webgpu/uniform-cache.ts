/**
 * Uniform buffers kept by content, so that a dispatch whose uniforms were seen before writes none.
 *
 * tfjs-backend-webgpu 4.22 gives every dispatch fresh uniforms: it lays out the shapes, strides
 * and the program's own fields, takes a pooled buffer and `queue.writeBuffer`s them, and puts the
 * buffer back after the submit. Yet a training step repeats the previous step's dispatches with the
 * same shapes, so almost every uniform block is one already written (ResNet50 at 32 px: 13,057 of
 * 13,321 over eleven steps). Here a block is looked up by its bytes and its buffer, never written
 * again, bound once more. On the software adapter this took 17-24 ms of host time off a ResNet50 or
 * MobileNetV2 step of 1,200-1,400 dispatches (docs/benchmarks-gpu.md). The bind group layout of each pipeline, which tfjs
 * asks the pipeline for at every dispatch, is kept too.
 *
 * The layout of a block stays tfjs's own: its `makeUniforms` runs against a stand-in that captures
 * the bytes instead of writing them. Blocks seen once (a seed, a step count) would grow the cache
 * without end, so it keeps the `capacity` most recently used and hands the others back to the pool
 * after the next submit, when no queued command can still read them.
 */
import { swapMethod, type WebGPUBackend } from './backend.ts';
import { LruCache } from './lru.ts';

/** The parts of the backend this touches (private in tfjs's typings). */
interface Internals {
  makeUniforms(programUniform: unknown): { offset: number; size: number; buffer: GPUBuffer };
  recordAndSubmit(program: { pipeline?: unknown }, ...rest: unknown[]): void;
  readonly bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  readonly queue: GPUQueue;
  uniformPendingDisposal: GPUBuffer[];
}

/** Blocks kept; a ResNet50 training step uses about 300 distinct ones. */
export const UNIFORM_CACHE_CAPACITY = 4096;

export interface UniformCache {
  /** Blocks written (misses) and reused (hits) since installed. */
  readonly stats: { readonly hits: number; readonly misses: number; readonly size: number };
  /** Puts tfjs's own methods back and returns the cached buffers to the pool after the next submit. */
  restore(): void;
}

/** Key of a block: its bytes as a string (blocks are a few dozen words). */
function keyOf(bytes: ArrayBuffer): string {
  return String.fromCharCode.apply(null, new Uint16Array(bytes) as unknown as number[]);
}

/** Installs the cache on one backend instance. */
export function cacheUniforms(backend: WebGPUBackend, capacity = UNIFORM_CACHE_CAPACITY): UniformCache {
  const b = backend as unknown as Internals;
  // A block pushed out goes back to the pool after the next submit, when no queued command reads it.
  const blocks = new LruCache<GPUBuffer>(capacity, (old) => b.uniformPendingDisposal.push(old));

  let captured: ArrayBuffer | undefined;
  const standIn = {
    bufferManager: { acquireBuffer: () => null },
    queue: { writeBuffer: (_buffer: unknown, _offset: number, data: ArrayBuffer) => void (captured = data) },
    uniformPendingDisposal: [] as unknown[],
  };

  const restoreMakeUniforms = swapMethod(b, 'makeUniforms', (own) =>
    function (this: Internals, programUniform) {
      captured = undefined;
      own.call(standIn as unknown as Internals, programUniform);
      standIn.uniformPendingDisposal.length = 0;
      const bytes = captured as ArrayBuffer | undefined;
      if (bytes === undefined) throw new Error('uniform cache: tfjs wrote no uniforms (tfjs-backend-webgpu changed?)');
      const buffer = blocks.get(keyOf(bytes), () => {
        const made = this.bufferManager.acquireBuffer(bytes.byteLength, GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM);
        this.queue.writeBuffer(made, 0, bytes, 0, bytes.byteLength);
        return made;
      });
      return { offset: 0, size: bytes.byteLength, buffer };
    },
  );

  const layouts = new WeakSet<object>();
  const restoreRecord = swapMethod(b, 'recordAndSubmit', (own) =>
    function (this: Internals, program, ...rest) {
      const pipeline = program.pipeline as { getBindGroupLayout(index: number): GPUBindGroupLayout } | undefined;
      if (pipeline !== undefined && !layouts.has(pipeline)) {
        const first = pipeline.getBindGroupLayout(0);
        const ownLayout = pipeline.getBindGroupLayout.bind(pipeline);
        pipeline.getBindGroupLayout = (index) => (index === 0 ? first : ownLayout(index));
        layouts.add(pipeline);
      }
      own.call(this, program, ...rest);
    },
  );

  return {
    stats: blocks,
    restore() {
      restoreMakeUniforms();
      restoreRecord();
      b.uniformPendingDisposal.push(...blocks.clear());
    },
  };
}
