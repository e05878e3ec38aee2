/**
 * How TL puts its own parts into tfjs: kernels into tfjs's registry, methods into its classes.
 */
import * as tf from '@tensorflow/tfjs';

/** Registers `kernelFunc` as `kernelName` for `backendName`, in place of any registered before. */
export function setKernel(kernelName: string, backendName: string, kernelFunc: tf.KernelFunc): void {
  // Unregister first: registering over a kernel works but logs a warning per kernel.
  if (tf.getKernel(kernelName, backendName) !== undefined) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/**
 * Puts `replace(own, active)` in place of `target[key]` (a class prototype's method, so every
 * instance gets it, however it was built) and returns what puts `own` back. `active()` says whether
 * the replacement is still in place: a copy of it kept past the restore (bound to an instance)
 * should hand everything to `own`.
 */
export function swapMethod<T extends object, K extends keyof T>(target: T, key: K, replace: (own: T[K], active: () => boolean) => T[K]): () => void {
  const own = target[key];
  let active = true;
  target[key] = replace(own, () => active);
  return () => {
    active = false;
    target[key] = own;
  };
}
