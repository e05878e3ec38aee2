/**
 * Picks the tfjs backend at run time. `auto` tries, in order: the native TensorFlow bindings
 * (tfjs-node-gpu, then tfjs-node: optional dependencies, absent where their install could not
 * download libtensorflow), WebGPU on a real GPU (Dawn through the `webgpu` package), then wasm with
 * TL's training kernels. `cpu` is the pure-JS reference. Nothing here is imported statically.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

import type { BackendName } from './names.ts';

export { BACKENDS, type BackendName } from './names.ts';

export interface BackendChoice {
  readonly name: string;
  /** Why this one: what was tried before it and why each was skipped. */
  readonly reason: string;
  readonly skipped: readonly { readonly name: string; readonly why: string }[];
}

async function tryTensorflow(): Promise<string> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return pkg;
    } catch {
      // try the next one
    }
  }
  throw new Error('neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed (they need libtensorflow)');
}

/** Dawn prints a warning of its own when it cannot find the Vulkan loader; look first, quietly. */
function hasVulkanLoader(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.some((d) => d && existsSync(join(d, 'libvulkan.so.1')));
}

async function tryWebgpu(allowSoftware: boolean): Promise<string> {
  if (!allowSoftware && !hasVulkanLoader()) throw new Error('no Vulkan loader (libvulkan.so.1), so no GPU to reach');
  type WebgpuModule = { create: (flags: string[]) => unknown; globals: Record<string, unknown> };
  let webgpu: WebgpuModule;
  try {
    webgpu = (await import('webgpu')) as unknown as WebgpuModule;
  } catch (err) {
    throw new Error(`the webgpu package does not load: ${(err as Error).message}`);
  }
  Object.assign(globalThis, webgpu.globals);
  const software = process.env.TL_WEBGPU_SOFTWARE === '1' || allowSoftware;
  if (software) process.env.EGL_PLATFORM ??= 'surfaceless';
  type Gpu = { requestAdapter: (o?: object) => Promise<{ info?: { description?: string; vendor?: string }; isFallbackAdapter?: boolean } | null>; wgslLanguageFeatures?: unknown };
  const raw = webgpu.create(software ? ['backend=opengl'] : []) as Gpu;
  // Dawn's OpenGL path (the software adapter) needs compatibility mode, and tfjs asks for its adapter
  // itself, so every request made through navigator.gpu carries it.
  const gpu: Gpu = software
    ? { requestAdapter: (o?: object) => raw.requestAdapter({ ...o, featureLevel: 'compatibility' }), wgslLanguageFeatures: raw.wgslLanguageFeatures }
    : raw;
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter (no GPU with a Vulkan driver)');
  const description = `${adapter.info?.vendor ?? ''} ${adapter.info?.description ?? ''}`.trim();
  if (!allowSoftware && (adapter.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(description))) {
    throw new Error(`only a software adapter (${description || 'fallback'}): too slow to train on`);
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('the tfjs webgpu backend failed to initialise');
  const { registerWebgpuTrainingKernels } = await import('./webgpu/index.ts');
  registerWebgpuTrainingKernels();
  return description || 'WebGPU adapter';
}

async function tryWasm(): Promise<string> {
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
  const { registerWasmTrainingKernels } = await import('./wasm-kernels.ts');
  registerWasmTrainingKernels();
  return 'WebAssembly, with TL\'s training kernels';
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
  return 'pure JavaScript reference (slow)';
}

const ATTEMPTS: Record<Exclude<BackendName, 'auto'>, (explicit: boolean) => Promise<string>> = {
  tensorflow: () => tryTensorflow(),
  webgpu: (explicit) => tryWebgpu(explicit),
  wasm: () => tryWasm(),
  cpu: () => tryCpu(),
};

export async function selectBackend(requested: BackendName = 'auto'): Promise<BackendChoice> {
  const order: Exclude<BackendName, 'auto'>[] = requested === 'auto' ? ['tensorflow', 'webgpu', 'wasm', 'cpu'] : [requested];
  const skipped: { name: string; why: string }[] = [];
  for (const name of order) {
    try {
      const detail = await ATTEMPTS[name](requested !== 'auto');
      await tf.ready();
      const why = skipped.length ? `; skipped ${skipped.map((s) => `${s.name} (${s.why})`).join(', ')}` : '';
      return { name, reason: `${detail}${why}`, skipped };
    } catch (err) {
      skipped.push({ name, why: (err as Error).message });
    }
  }
  throw new Error(`no usable tfjs backend: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}`);
}
