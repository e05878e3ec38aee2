/**
 * The narrow bridge between tfjs's untyped kernel registry and kernels written as ordinary tfjs ops.
 * A kernel here computes its result with tf ops (which run on the wasm backend, since that is the
 * active one when a wasm kernel is called) and hands the engine a TensorInfo it owns.
 */
import * as tf from '@tensorflow/tfjs';

/** What these kernels need from the backend object tfjs passes in: a reference count on data. */
interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

function isRefCounting(backend: unknown): backend is RefCountingBackend {
  return typeof backend === 'object' && backend !== null && typeof (backend as { incRef?: unknown }).incRef === 'function';
}

/**
 * A kernel body: its named inputs as tensors (so it can use tf ops) and its attributes.
 * `A` is the tfjs attribute interface of the kernel (e.g. `tf.Conv2DBackpropFilterAttrs`); the
 * registry itself only promises a loose attribute map, so the cast happens here, once.
 */
export type KernelBody<I extends string, A> = (inputs: Readonly<Record<I, tf.Tensor>>, attrs: A) => tf.Tensor;

/**
 * Wraps a body written with tf ops as a tfjs `KernelFunc`.
 *
 * Inputs arrive as TensorInfos (in practice the engine passes Tensors; bare infos are wrapped,
 * with their own reference so disposing the wrapper does not free the caller's data). The body
 * runs in `tf.tidy`, so every intermediate is freed; the result's data gets one extra reference
 * and its Tensor wrapper is disposed, leaving the engine, which wraps the returned info in a new
 * Tensor, as the only owner: no tensor is left behind in `tf.memory()`.
 */
export function opKernel<I extends string, A>(inputNames: readonly I[], body: KernelBody<I, A>): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    if (!isRefCounting(backend)) throw new Error('wasm training kernels need a backend with reference-counted data');
    const given = new Set<tf.Tensor>();
    const out = tf.tidy(() => {
      const tensors = {} as Record<I, tf.Tensor>;
      for (const name of inputNames) {
        const info = inputs[name];
        if (info == null) throw new Error(`kernel input '${name}' is missing`);
        let t: tf.Tensor;
        if (info instanceof tf.Tensor) {
          t = info;
          given.add(t);
        } else {
          backend.incRef(info.dataId);
          t = tf.engine().makeTensorFromTensorInfo(info);
        }
        tensors[name] = t;
      }
      const result = body(tensors, (attrs ?? {}) as unknown as A);
      // Handing back an input would let the dispose below free the caller's tensor.
      return given.has(result) ? result.clone() : result;
    });
    backend.incRef(out.dataId);
    const info: tf.TensorInfo = { dataId: out.dataId, shape: out.shape.slice(), dtype: out.dtype };
    out.dispose();
    return info;
  };
}

/** Runs a kernel by name on the active backend, skipping the op-level argument checks. */
export function runKernel(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(kernelName, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}
