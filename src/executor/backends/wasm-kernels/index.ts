/**
 * Training kernels for the tfjs wasm backend. As shipped (4.22) it cannot train a convnet: it
 * lacks Conv2DBackpropFilter, the depthwise gradients and UnsortedSegmentSum, and its
 * MaxPoolGrad and AvgPoolGrad give wrong gradients; its Conv2DBackpropInput and Tile are scalar
 * loops that dominated a training step, its Slice and Reverse copy element by element, and its
 * Identity copies where sharing would do. These kernels are compositions of wasm ops (XNNPACK
 * convolutions, matmuls and broadcasts) or, where that would build and reduce a large
 * intermediate (the depthwise filter gradient), loops of TL's own WebAssembly (assemble.ts) on the
 * backend's heap; they are checked against the cpu backend and finite differences in
 * test/executor/wasm-kernels.test.ts. tf.layers' BatchNormalization in training mode becomes one
 * op of four SIMD passes (../batchnorm-training.ts, with these kernels in batchnorm.ts), and
 * tfjs's optimizers update each variable in one SIMD pass (optimizers.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { registerTrainingBatchNorm } from '../batchnorm-training.ts';
import { registerFusedOptimizers } from '../fused-optimizers.ts';
import { setKernel } from '../registry.ts';
import { WASM_BATCHNORM } from './batchnorm.ts';
import { identity, reverse, slice } from './copies.ts';
import { depthwiseConv2dNativeBackpropFilter } from './depthwise-filter-grad.ts';
import { conv2DBackpropFilter } from './filter-grads.ts';
import { conv2DBackpropInput, depthwiseConv2dNativeBackpropInput } from './input-grads.ts';
import { wasmUpdater } from './optimizers.ts';
import { avgPoolGrad, maxPoolGrad } from './pool-grads.ts';
import { tile } from './tile.ts';
import { unsortedSegmentSum } from './unsorted-segment-sum.ts';

/** Kernel name to implementation; the ones already on the wasm backend are replaced. */
export const WASM_TRAINING_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Conv2DBackpropInput: conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInput,
  UnsortedSegmentSum: unsortedSegmentSum,
  MaxPoolGrad: maxPoolGrad,
  AvgPoolGrad: avgPoolGrad,
  Tile: tile,
  Slice: slice,
  Reverse: reverse,
  Identity: identity,
};

/**
 * Registers the training kernels for the 'wasm' backend; calling it again does nothing.
 *
 * @example
 * await import('@tensorflow/tfjs-backend-wasm');
 * await tf.setBackend('wasm');
 * registerWasmTrainingKernels();
 */
export function registerWasmTrainingKernels(): void {
  for (const [kernelName, kernelFunc] of Object.entries(WASM_TRAINING_KERNELS)) {
    if (tf.getKernel(kernelName, 'wasm')?.kernelFunc !== kernelFunc) setKernel(kernelName, 'wasm', kernelFunc);
  }
  registerTrainingBatchNorm('wasm', WASM_BATCHNORM);
  registerFusedOptimizers('wasm', wasmUpdater);
}
