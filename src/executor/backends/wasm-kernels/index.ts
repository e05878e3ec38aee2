/**
 * Training kernels for the tfjs wasm backend. As shipped (4.22) it cannot train a convnet: it
 * lacks Conv2DBackpropFilter, the depthwise gradients and UnsortedSegmentSum, and its
 * MaxPoolGrad and AvgPoolGrad give wrong gradients; its Conv2DBackpropInput and Tile are scalar
 * loops that dominated a training step. These kernels are compositions of wasm ops (XNNPACK
 * convolutions, matmuls and broadcasts), checked against the cpu backend and finite differences
 * in test/executor/wasm-kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilter, depthwiseConv2dNativeBackpropFilter } from './filter-grads.ts';
import { conv2DBackpropInput, depthwiseConv2dNativeBackpropInput } from './input-grads.ts';
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
    const current = tf.getKernel(kernelName, 'wasm') as tf.KernelConfig | undefined;
    if (current?.kernelFunc === kernelFunc) continue;
    // Unregister first: registering over a kernel works but logs a warning per kernel.
    if (current !== undefined) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}
