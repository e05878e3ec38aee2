/**
 * Tensors kept for a gradient, without a kernel each.
 *
 * When a kernel with a gradient, or a custom-gradient op, runs under a gradient tape, tfjs-core
 * 4.22's engine keeps the tensors that gradient needs by cloning them (`engine.clone`, which only
 * those two saves call): a run of the Identity kernel, with the engine's whole bookkeeping for a
 * kernel, and a tape node for the clone. On webgpu Identity copies nothing, it raises the buffer's
 * reference count, so all that work is the host's, and the host is what held MobileNetV2's step
 * back on the H200 (2026-11-30: 30-50 ms of host time against 29 ms of GPU time). A MobileNetV2
 * step at 32 px, batch 2, ran 332 Identity kernels, 287 of them such clones (75 from kernels' saves,
 * 212 from custom-gradient ops', mostly TL's BatchNorm).
 *
 * Here the clone is made as Identity makes it, straight away: the backend's reference count
 * raised, a tensor made on the same data (the save then keeps it). Left out is the clone's tape node, which only a
 * gradient taken through a saved tensor (a gradient of a gradient) would follow; TL takes none.
 * On any other backend the engine's own method runs.
 */
import * as tf from '@tensorflow/tfjs';

interface EngineInternals {
  readonly backendName: string;
  readonly backend: { incRef(dataId: object): void };
  clone(x: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
}

/** Installs the cheaper clone on tfjs's engine for `backendName`; returns what puts the engine's own back. */
export function keepSavedTensorsDirectly(backendName: string): () => void {
  const engine = tf.engine() as unknown as EngineInternals;
  const own = Object.getPrototypeOf(engine).clone as EngineInternals['clone'];
  engine.clone = function (this: EngineInternals, x: tf.Tensor): tf.Tensor {
    if (this.backendName !== backendName) return own.call(this, x);
    this.backend.incRef(x.dataId);
    return this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype });
  };
  return () => {
    delete (engine as Partial<EngineInternals>).clone;
  };
}
