/**
 * TL's training kernels for the tfjs webgpu backend (tfjs-backend-webgpu 4.22). On an H200 that
 * backend trained ResNet50 at 1/128 of PyTorch's speed while inferring at 1/3.4 of it; the time
 * went to training-mode BatchNorm's gradient (built from full-size ops, with `ones` tensors filled
 * on the CPU), to reductions that run on one workgroup per output, and to convolution gradients
 * computed one thread per output value. See docs/benchmarks-gpu.md.
 *
 * Kernels replaced (each falls back to the backend's own for cases it does not cover): Conv2D
 * and FusedConv2D, Conv2DBackpropFilter and Conv2DBackpropInput (implicit GEMM), the depthwise gradients, Sum and
 * Mean (chunked column and row sums). Gradients replaced, on webgpu only (tfjs keeps one gradient
 * registry for all backends, so these defer to the original elsewhere): FusedBatchNorm (fused, two
 * passes), Mean and Sum (a broadcast instead of `ones`), Relu, Relu6 and ClipByValue (one pass).
 * And tf.layers' BatchNormalization in training mode becomes one op with a closed-form gradient
 * (../batchnorm-training.ts, with its webgpu kernels in batchnorm-training.ts); tfjs's Adam, SGD,
 * momentum and RMSprop update in one to three passes per variable (optimizers.ts). Kernels of TL's own that the executor's augmentations use where
 * registered: the resampler (affine-sample.ts), noise (noise.ts), the cutmix paste (cutmix.ts); and
 * tf.layers' Dropout draws its training mask on the GPU (dropout.ts).
 * On the backend instance itself, uniform blocks are kept by content (uniform-cache.ts), bind groups
 * by what they bind (bind-group-cache.ts), the buffer pool hands out buffers in the order they were
 * made (buffer-pool.ts), and values from JavaScript go up without staging buffers (uploads.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { webgpuBackendOf } from './backend.ts';
import { clipByValueGrad, MASK_GRAD, maskGrad, relu6Grad, reluGrad } from './activation-grads.ts';
import { AFFINE_SAMPLE, affineSample } from './affine-sample.ts';
import { PIXELS_TO_INPUT, pixelsToInput } from './pixels.ts';
import { ADD_RELU, CONV_ADD } from '../fused-activation.ts';
import { addRelu, patchAddLayer, restoreAddLayer } from './residual.ts';
import { BN_GRAD_SUMS, bnGradSums, fusedBatchNormGrad } from './batchnorm-grad.ts';
import { registerTrainingBatchNorm, unregisterTrainingBatchNorm } from '../batchnorm-training.ts';
import { registerFusedOptimizers, unregisterFusedOptimizers } from '../fused-optimizers.ts';
import { ownKernel, restoreKernel, setKernel } from '../registry.ts';
import { WEBGPU_BATCHNORM } from './batchnorm-training.ts';
import { makeConv2DBackpropFilter } from './conv2d-backprop-filter.ts';
import { makeConv2DBackpropInput } from './conv2d-backprop-input.ts';
import { conv2dAdd, makeConv2D } from './conv2d-forward.ts';
import { CUTMIX_PASTE, cutmixPaste } from './cutmix.ts';
import { makeDepthwiseBackpropFilter } from './depthwise-backprop-filter.ts';
import { makeDepthwiseBackpropInput } from './depthwise-backprop-input.ts';
import { GAUSSIAN_NOISE, gaussianNoise } from './noise.ts';
import { DROPOUT_MASK, dropoutMask, patchDropoutLayer, restoreDropoutLayer } from './dropout.ts';
import { OPTIMIZER_UPDATE, optimizerUpdate, webgpuScaler, webgpuUpdater } from './optimizers.ts';
import { keepSavedTensorsDirectly } from './saved-tensors.ts';
import { BROADCAST_GRAD, broadcastGradKernel, meanGrad, sumGrad } from './reduce-grads.ts';
import { makeMean, makeSum } from './reduce-kernels.ts';
import { cacheBindGroups, type BindGroupCache } from './bind-group-cache.ts';
import { orderBufferPool } from './buffer-pool.ts';
import { trackReads, writeInPlace } from './in-place.ts';
import { setValueWriter } from '../in-place-writes.ts';
import { cacheUniforms, type UniformCache } from './uniform-cache.ts';
import { uploadByWrite } from './uploads.ts';

const BACKEND = 'webgpu';

/** Kernel name to a factory given the backend's own kernel, which it calls for cases it leaves. */
export const WEBGPU_TRAINING_KERNELS: Readonly<Record<string, (fallback: tf.KernelFunc) => tf.KernelFunc>> = {
  Conv2D: makeConv2D,
  FusedConv2D: makeConv2D,
  Conv2DBackpropFilter: makeConv2DBackpropFilter,
  Conv2DBackpropInput: makeConv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: makeDepthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: makeDepthwiseBackpropInput,
  Sum: makeSum,
  Mean: makeMean,
};

/** Kernels of TL's own, which the backend has no counterpart of. */
const TL_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  [BN_GRAD_SUMS]: bnGradSums,
  [MASK_GRAD]: maskGrad,
  [BROADCAST_GRAD]: broadcastGradKernel,
  [OPTIMIZER_UPDATE]: optimizerUpdate,
  [AFFINE_SAMPLE]: affineSample,
  [PIXELS_TO_INPUT]: pixelsToInput,
  [ADD_RELU]: addRelu,
  [CONV_ADD]: conv2dAdd,
  [GAUSSIAN_NOISE]: gaussianNoise,
  [CUTMIX_PASTE]: cutmixPaste,
  [DROPOUT_MASK]: dropoutMask,
};

/** Kernel name to a gradient factory given the original gradient. */
export const WEBGPU_TRAINING_GRADIENTS: Readonly<Record<string, (original: tf.GradConfig) => tf.GradConfig>> = {
  FusedBatchNorm: fusedBatchNormGrad,
  Mean: meanGrad,
  Sum: sumGrad,
  Relu: reluGrad,
  Relu6: relu6Grad,
  ClipByValue: clipByValueGrad,
};

/** Whether TL's kernels are registered, and tfjs's gradients they replaced (the kernels' own the registry keeps). */
let registered = false;
const replacedGradients = new Map<string, tf.GradConfig>();
let uniforms: UniformCache | undefined;

/** The uniform cache on the webgpu backend while TL's kernels are registered (hits and misses, for benchmarks). */
export function webgpuUniformCache(): UniformCache | undefined {
  return uniforms;
}

let bindGroups: BindGroupCache | undefined;
/** What puts the backend instance's own methods back, last installed first. */
const restores: (() => void)[] = [];

/** The bind group cache installed with TL's kernels, if the webgpu backend was up then. */
export function webgpuBindGroupCache(): BindGroupCache | undefined {
  return bindGroups;
}

/** Whether TL's kernels are registered now. */
export function webgpuTrainingKernelsRegistered(): boolean {
  return registered;
}

/**
 * Registers TL's kernels and gradients for the 'webgpu' backend; calling it again does nothing.
 * Call it after the backend is registered (importing tfjs-backend-webgpu with `navigator.gpu` set).
 *
 * @example
 * await import('@tensorflow/tfjs-backend-webgpu');
 * await tf.setBackend('webgpu');
 * registerWebgpuTrainingKernels();
 */
export function registerWebgpuTrainingKernels(): void {
  if (webgpuTrainingKernelsRegistered()) return;
  for (const [kernelName, make] of Object.entries(WEBGPU_TRAINING_KERNELS)) {
    const stock = ownKernel(kernelName, BACKEND);
    if (stock === undefined) throw new Error(`the webgpu backend has no ${kernelName} kernel to build on; is tfjs-backend-webgpu loaded?`);
    setKernel(kernelName, BACKEND, make(stock.kernelFunc));
  }
  for (const [kernelName, kernelFunc] of Object.entries(TL_KERNELS)) setKernel(kernelName, BACKEND, kernelFunc);
  for (const [kernelName, make] of Object.entries(WEBGPU_TRAINING_GRADIENTS)) {
    const original = replacedGradients.get(kernelName) ?? (tf.getGradient(kernelName) as tf.GradConfig | undefined);
    if (original === undefined) throw new Error(`tfjs has no gradient for ${kernelName} to build on`);
    replacedGradients.set(kernelName, original);
    tf.registerGradient(make(original));
  }
  // Past here nothing depends on what tfjs has registered; a failure above leaves a retry to redo it all.
  registered = true;
  registerTrainingBatchNorm(BACKEND, WEBGPU_BATCHNORM);
  patchAddLayer();
  patchDropoutLayer();
  registerFusedOptimizers(BACKEND, webgpuUpdater, webgpuScaler);
  setValueWriter(BACKEND, (tensor, values) => writeInPlace(webgpuBackendOf(tf.backend()), tensor, values));
  restores.push(keepSavedTensorsDirectly(BACKEND));
  // The caches, the pool's order, the read tracking and the uploads live on a backend instance:
  // the one initialised now (the executor registers after `setBackend('webgpu')`), if any. Without
  // the tracking, the optimizers copy each variable before writing it (in-place.ts).
  const backend = tf.engine().registry[BACKEND];
  if (backend !== undefined) {
    const b = webgpuBackendOf(backend);
    uniforms = cacheUniforms(b);
    bindGroups = cacheBindGroups(b);
    restores.push(uniforms.restore, bindGroups.restore, orderBufferPool(b), trackReads(b), uploadByWrite(b));
  }
}

/** Puts back the backend's own kernels and tfjs's gradients (for A/B benchmarks and tests). */
export function unregisterWebgpuTrainingKernels(): void {
  for (const kernelName of [...Object.keys(WEBGPU_TRAINING_KERNELS), ...Object.keys(TL_KERNELS)]) restoreKernel(kernelName, BACKEND);
  for (const config of replacedGradients.values()) tf.registerGradient(config);
  unregisterTrainingBatchNorm(BACKEND);
  restoreAddLayer();
  restoreDropoutLayer();
  unregisterFusedOptimizers(BACKEND);
  setValueWriter(BACKEND, undefined);
  for (const restore of restores.splice(0).reverse()) restore();
  uniforms = undefined;
  bindGroups = undefined;
  replacedGradients.clear();
  registered = false;
}
