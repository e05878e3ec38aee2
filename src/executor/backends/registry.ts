/**
 * How TL puts its own parts into tfjs: kernels into tfjs's registry, methods into its classes.
 */
import * as tf from '@tensorflow/tfjs';

/** The kernels the first setKernel of each name and backend replaced, by `backend/name`. */
const replaced = new Map<string, tf.KernelFunc>();

/** Registers `kernelFunc` as `kernelName` for `backendName`, in place of any registered before. */
export function setKernel(kernelName: string, backendName: string, kernelFunc: tf.KernelFunc): void {
  const existing = tf.getKernel(kernelName, backendName);
  const key = `${backendName}/${kernelName}`;
  if (existing !== undefined && !replaced.has(key)) replaced.set(key, existing.kernelFunc);
  // Unregister first: registering over a kernel works but logs a warning per kernel.
  if (existing !== undefined) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/** The kernel that TL's `kernelName` replaced on `backendName` (its own for the cases TL's leaves to it). */
export function replacedKernel(kernelName: string, backendName: string): tf.KernelFunc {
  const kernel = replaced.get(`${backendName}/${kernelName}`);
  if (kernel === undefined) throw new Error(`no ${kernelName} kernel of ${backendName}'s own to hand this case to`);
  return kernel;
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
