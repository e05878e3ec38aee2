/** Turns packed uint8 images into preprocessed float batches, and runs a model over a whole set. */
import * as tf from '@tensorflow/tfjs';
import type { ImageSet } from './data/index.ts';
import { PIXELS_TO_INPUT } from './backends/webgpu/pixels.ts';
import { stepRunner } from './backends/select.ts';
import type { StepOutput } from './backends/steps.ts';
import { foldBatchNorms } from './fold-batchnorm.ts';
import { applyPreprocess, type Preprocess } from './zoo/index.ts';

/**
 * The images at `indices`, preprocessed for the base, as one float batch. Where the backend has
 * TL's kernel for it (webgpu), the bytes are uploaded as they are, four to an int32, and unpacked
 * and preprocessed by one program; elsewhere they are widened here and preprocessed by tfjs's ops.
 */
export function imageBatch(set: ImageSet, indices: ArrayLike<number>, preprocess: Preprocess): tf.Tensor4D {
  const s = set.size;
  const per = s * s * 3;
  const shape: [number, number, number, number] = [indices.length, s, s, 3];
  const packed = tf.getKernel(PIXELS_TO_INPUT, tf.getBackend()) !== undefined && LITTLE_ENDIAN;
  // Packed, the length is rounded up to whole int32 words, in a buffer kept from batch to batch:
  // the program's upload copies the bytes before imageBatch returns (a new 4.8 MB buffer a batch
  // of 32 at 224 px cost 0.5-0.8 ms, and its garbage collection more). Elsewhere the tensor keeps
  // the array it is made from, so each batch gets its own.
  const bytes = packed ? packedScratch(Math.ceil((indices.length * per) / 4) * 4) : new Uint8Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) bytes.set(set.images.image(indices[i]!), i * per);
  if (packed) {
    return tf.tidy(() => {
      const words = tf.tensor1d(new Int32Array(bytes.buffer, 0, bytes.length / 4), 'int32');
      const attrs = { shape, scale: [...preprocess.scale], offset: [...preprocess.offset], bgr: preprocess.channels === 'bgr' };
      return tf.engine().runKernel(PIXELS_TO_INPUT, { pixels: words }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    });
  }
  return tf.tidy(() => applyPreprocess(tf.tensor4d(bytes, shape, 'int32').toFloat(), preprocess) as tf.Tensor4D);
}

let scratch = new Uint8Array(0);

/** The first `length` bytes of the packed path's buffer, grown as needed. */
function packedScratch(length: number): Uint8Array {
  if (scratch.length < length) scratch = new Uint8Array(length);
  return scratch.subarray(0, length);
}

/** Whether this machine stores an int32's bytes low first, as WebGPU's buffers do (TL's kernel unpacks them so). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function oneHot(labels: ArrayLike<number>, indices: ArrayLike<number>, classes: number): tf.Tensor2D {
  const picked = Int32Array.from({ length: indices.length }, (_, i) => labels[indices[i]!]!);
  return tf.tidy(() => tf.oneHot(tf.tensor1d(picked, 'int32'), classes).toFloat() as tf.Tensor2D);
}

export function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** The batch evaluation and predictions run at (their products are tuned at it too: evaluationPass). */
export const EVAL_BATCH = 64;

/**
 * One inference batch of zeros through `model` with its BatchNorms folded, as predictAll runs it:
 * for tuning the products evaluation runs (backends/select.ts prepareForTraining).
 */
export function evaluationPass(model: tf.LayersModel, batch: number): () => tf.Tensor {
  return () => {
    const folded = foldBatchNorms(model);
    try {
      return tf.tidy(() => model.apply(tf.zeros(model.inputs[0]!.shape.map((d, i) => (i === 0 ? batch : (d ?? 1)))), { training: false }) as tf.Tensor);
    } finally {
      folded.restore();
    }
  };
}

/**
 * Runs `model` in inference mode over batches of inputs made by `makeBatch`, returning all outputs
 * row-major. Where the backend can (webgpu), full batches are recorded once they repeat and then
 * replayed (backends/steps.ts): the same scores without the JavaScript that queues each batch.
 */
export async function predictAll(
  count: number,
  batchSize: number,
  makeBatch: (indices: Int32Array) => tf.Tensor,
  model: tf.LayersModel,
): Promise<{ data: Float32Array; width: number }> {
  const width = model.outputs[0]!.shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  const data = new Float32Array(count * width);
  // Batch b's scores are read after batch b + 1 is queued: on a GPU the read waits for the queue to
  // drain, and reading one batch late lets the host build the next batch while the GPU runs this one.
  let pending: { output: StepOutput; at: number } | null = null;
  const settle = async (): Promise<void> => {
    if (pending === null) return;
    const { output, at } = pending;
    pending = null;
    data.set(await output.read(), at * width);
  };
  const steps = await stepRunner(tf.getBackend());
  // Each BatchNorm runs folded into its convolution (fold-batchnorm.ts): the same scores, less work.
  const folded = foldBatchNorms(model);
  try {
    for (let start = 0; start < count; start += batchSize) {
      const idx = range(Math.min(batchSize, count - start)).map((i) => i + start);
      const x = makeBatch(idx);
      try {
        const output = steps.run(idx.length === batchSize ? `predict ${batchSize}` : null, [x], () => tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor));
        await settle();
        pending = { output, at: start };
      } finally {
        x.dispose();
      }
    }
    await settle();
  } finally {
    (pending as { output: StepOutput } | null)?.output.discard();
    steps.dispose();
    folded.restore();
  }
  return { data, width };
}
