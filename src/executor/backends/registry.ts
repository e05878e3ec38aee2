/**
 * How TL puts its own parts into tfjs: kernels into tfjs's registry, methods into its classes.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * What the first setKernel of each name and backend found registered, by `backend/name`: the
 * backend's own kernel, or null where it had none. Kept until restoreKernel puts it back.
 */
const replaced = new Map<string, tf.KernelConfig | null>();

/** Registers `kernelFunc` as `kernelName` for `backendName`, in place of any registered before. */
export function setKernel(kernelName: string, backendName: string, kernelFunc: tf.KernelFunc): void {
  const existing = tf.getKernel(kernelName, backendName);
  const key = `${backendName}/${kernelName}`;
  if (!replaced.has(key)) replaced.set(key, existing ?? null);
  // Unregister first: registering over a kernel works but logs a warning per kernel.
  if (existing !== undefined) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/**
 * The backend's own `kernelName`: the one TL's replaced, or, where TL has set none, the one
 * registered now. Undefined if the backend has none.
 */
export function ownKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  const key = `${backendName}/${kernelName}`;
  return replaced.has(key) ? (replaced.get(key) ?? undefined) : tf.getKernel(kernelName, backendName);
}

/** The kernel that TL's `kernelName` replaced on `backendName` (its own for the cases TL's leaves to it). */
export function replacedKernel(kernelName: string, backendName: string): tf.KernelFunc {
  const kernel = replaced.get(`${backendName}/${kernelName}`);
  if (kernel == null) throw new Error(`no ${kernelName} kernel of ${backendName}'s own to hand this case to`);
  return kernel.kernelFunc;
}

/** Puts back the backend's own `kernelName` (none, where it had none); nothing to do where TL set none. */
export function restoreKernel(kernelName: string, backendName: string): void {
  const key = `${backendName}/${kernelName}`;
  if (!replaced.has(key)) return;
  const own = replaced.get(key)!;
  replaced.delete(key);
  if (tf.getKernel(kernelName, backendName) !== undefined) tf.unregisterKernel(kernelName, backendName);
  if (own !== null) tf.registerKernel(own);
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
