/**
 * Uniform buffers kept by content, so that a dispatch whose uniforms were seen before writes none.
 *
 * tfjs-backend-webgpu 4.22 gives every dispatch fresh uniforms: it lays out the shapes, strides
 * and the program's own fields, takes a pooled buffer and `queue.writeBuffer`s them, and puts the
 * buffer back after the submit. Yet a training step repeats the previous step's dispatches with the
 * same shapes, so almost every uniform block is one already written (ResNet50 at 32 px: 13,057 of
 * 13,321 over eleven steps). Here a block seen before is bound again from its buffer, never
 * written again. On the software adapter this took 17-24 ms of host time off a ResNet50 or
 * MobileNetV2 step of 1,200-1,400 dispatches (docs/benchmarks-gpu.md). The bind group layout of each pipeline, which tfjs
 * asks the pipeline for at every dispatch, is kept too.
 *
 * A block is looked up by its fields (types, lengths, values); the layout of a new one stays
 * tfjs's own: its `makeUniforms` runs against a stand-in that captures the bytes instead of writing
 * them. Blocks seen once (a seed, a step count) would grow the cache without end, so it keeps the
 * `capacity` most recently used and hands the others back to the pool after the next submit, when
 * no queued command can still read them.
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

/** A block as bound: its buffer, from offset 0, of the size tfjs laid it out to. */
type Block = { readonly offset: number; readonly size: number; readonly buffer: GPUBuffer };

/** One field of a dispatch's uniforms, as tfjs hands them to `makeUniforms`. */
interface Field {
  readonly type: 'int32' | 'uint32' | 'float32';
  readonly data: readonly number[];
}

/**
 * The key of a block, from its fields: each field's type and length, then its values as the
 * 32-bit words the block holds, all as UTF-16 code units. Equal keys lay out to equal bytes
 * (tfjs's layout depends on the types and lengths alone), so a hit needs no layout: tfjs's
 * `makeUniforms` made a buffer and a typed array per field at every dispatch.
 */
function keyOf(fields: readonly Field[], words: { ints: Int32Array; floats: Float32Array }): string {
  let needed = 0;
  for (const f of fields) needed += 1 + f.data.length;
  if (needed > words.ints.length) {
    words.ints = new Int32Array(2 * needed);
    words.floats = new Float32Array(words.ints.buffer);
  }
  const { ints, floats } = words;
  let n = 0;
  for (const f of fields) {
    // As tfjs lays them out: int32 and uint32 as integers, any other type as float32.
    const code = f.type === 'int32' ? 1 : f.type === 'uint32' ? 2 : 3;
    ints[n++] = (code << 16) | f.data.length;
    const out = code === 3 ? floats : ints;
    for (let i = 0; i < f.data.length; i++) out[n++] = f.data[i]!;
  }
  return String.fromCharCode.apply(null, new Uint16Array(ints.buffer, 0, 2 * n) as unknown as number[]);
}

/** Installs the cache on one backend instance. */
export function cacheUniforms(backend: WebGPUBackend, capacity = UNIFORM_CACHE_CAPACITY): UniformCache {
  const b = backend as unknown as Internals;
  // A block pushed out goes back to the pool after the next submit, when no queued command reads it.
  const blocks = new LruCache<Block>(capacity, (old) => b.uniformPendingDisposal.push(old.buffer));
  const words = { ints: new Int32Array(64), floats: new Float32Array(0) };
  words.floats = new Float32Array(words.ints.buffer);

  // A miss lays the block out as tfjs does: its makeUniforms, run against a stand-in that keeps
  // the bytes instead of writing them.
  let captured: ArrayBuffer | undefined;
  const standIn = {
    bufferManager: { acquireBuffer: () => null },
    queue: { writeBuffer: (_buffer: unknown, _offset: number, data: ArrayBuffer) => void (captured = data) },
    uniformPendingDisposal: [] as unknown[],
  };

  const restoreMakeUniforms = swapMethod(b, 'makeUniforms', (own) =>
    function (this: Internals, programUniform) {
      return blocks.get(keyOf(programUniform as readonly Field[], words), () => {
        captured = undefined;
        own.call(standIn as unknown as Internals, programUniform);
        standIn.uniformPendingDisposal.length = 0;
        const bytes = captured as ArrayBuffer | undefined;
        if (bytes === undefined) throw new Error('uniform cache: tfjs wrote no uniforms (tfjs-backend-webgpu changed?)');
        const buffer = this.bufferManager.acquireBuffer(bytes.byteLength, GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM);
        this.queue.writeBuffer(buffer, 0, bytes, 0, bytes.byteLength);
        return { offset: 0, size: bytes.byteLength, buffer };
      });
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
      b.uniformPendingDisposal.push(...blocks.clear().map((block) => block.buffer));
    },
  };
}
