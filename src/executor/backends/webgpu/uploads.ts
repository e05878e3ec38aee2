/**
 * Tensors made from JavaScript values go up with `queue.writeBuffer`, into a pooled buffer.
 *
 * tfjs-backend-webgpu 4.22 uploads each one through a staging buffer of its own: a new buffer
 * mapped at creation, the values copied in, a copy recorded (ending the open compute pass to do
 * so), and the buffer destroyed after the submit. In a training step that is every scalar an op
 * takes from JavaScript, the labels, the augmentations' parameters and the batch of images: about
 * ten a step, each a buffer made and destroyed. Through Dawn's Node bindings that cost 43 us for
 * 768 bytes and 0.45-0.8 ms for a batch of images (4.8 MB), against 10 us and 0.16 ms for
 * `writeBuffer` (`bench/gpu/host.ts`), which copies into Dawn's own reused staging memory.
 *
 * `writeBuffer` lands before any command submitted after it, so before everything still being
 * recorded, and after everything submitted before it. That is safe for a buffer from the pool: a
 * buffer goes back to the pool only once no unsubmitted command uses it (tfjs holds a tensor
 * used by the open command encoder until the submit), which is what tfjs's own uniforms rely on.
 */
import { swapMethod, type WebGPUBackend } from './backend.ts';

/** The parts of the backend this touches (private in tfjs's typings). */
interface Internals {
  readonly tensorMap: { get(dataId: unknown): { dtype: string; shape: number[]; values: ArrayLike<number> | null; resource: unknown } | undefined };
  readonly bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  readonly queue: GPUQueue;
  uploadToGPU(dataId: unknown): void;
}

/** The words a tensor's values go up as: int32 for int32 and bool (as tfjs stores them), else float32. */
function words(dtype: string, values: ArrayLike<number>): Int32Array | Float32Array | undefined {
  if (dtype === 'int32' || dtype === 'bool') return values instanceof Int32Array ? values : Int32Array.from(values);
  if (dtype === 'float32') return values instanceof Float32Array ? values : Float32Array.from(values);
  return undefined;
}

/** Installs the upload on one backend instance; returns what puts tfjs's own back. */
export function uploadByWrite(backend: WebGPUBackend): () => void {
  const b = backend as unknown as Internals;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  return swapMethod(b, 'uploadToGPU', (own, active) =>
    function (this: Internals, dataId: unknown) {
      const data = active() ? this.tensorMap.get(dataId) : undefined;
      const values = data?.resource == null ? data?.values : null;
      const typed = values ? words(data!.dtype, values) : undefined;
      // Anything else (already up, no values, an empty tensor, another dtype) as tfjs does it.
      if (typed === undefined || typed.length === 0) return own.call(this, dataId);
      const buffer = this.bufferManager.acquireBuffer(typed.byteLength, usage);
      this.queue.writeBuffer(buffer, 0, typed.buffer, typed.byteOffset, typed.byteLength);
      data!.values = null;
      data!.resource = buffer;
    },
  );
}
