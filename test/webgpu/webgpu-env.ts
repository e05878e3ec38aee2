/**
 * Brings up tfjs's webgpu backend with TL's kernels on whatever adapter this machine has: a GPU
 * through Vulkan when the loader is there, else Mesa's llvmpipe through OpenGL (Dawn in
 * compatibility mode; FINDINGS.md), or says why it cannot. TL_WEBGPU_ADAPTER=hardware|software
 * forces one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';

export type WebgpuEnv = { readonly ok: true; readonly adapter: string } | { readonly ok: false; readonly why: string };

interface Adapter { readonly info?: { readonly vendor?: string; readonly description?: string } }
interface Gpu { requestAdapter(options?: object): Promise<Adapter | null>; readonly wgslLanguageFeatures?: unknown; getPreferredCanvasFormat?(): string }
interface WebgpuModule { create(flags: string[]): Gpu; globals: Record<string, unknown> }

function hasVulkanLoader(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];
  return dirs.some((d) => d !== '' && existsSync(join(d, 'libvulkan.so.1')));
}

/**
 * tfjs-backend-webgpu asks `navigator.gpu.requestAdapter({ powerPreference })`; Dawn's OpenGL
 * adapter only answers requests for `featureLevel: 'compatibility'`, so on the software path the
 * request is amended on its way.
 */
function withFeatureLevel(gpu: Gpu): Gpu {
  return {
    requestAdapter: (options?: object) => gpu.requestAdapter({ ...options, featureLevel: 'compatibility' }),
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat?.() ?? 'rgba8unorm',
  };
}

async function bringUp(): Promise<WebgpuEnv> {
  let webgpu: WebgpuModule;
  try {
    webgpu = (await import('webgpu')) as unknown as WebgpuModule;
  } catch (err) {
    return { ok: false, why: `the webgpu package does not load (${(err as Error).message})` };
  }
  Object.assign(globalThis, webgpu.globals);
  const forced = process.env.TL_WEBGPU_ADAPTER;
  const software = forced === 'software' || (forced !== 'hardware' && !hasVulkanLoader());
  if (software) process.env.EGL_PLATFORM ??= 'surfaceless';
  const raw = webgpu.create(software ? ['backend=opengl'] : []);
  const gpu = software ? withFeatureLevel(raw) : raw;
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    return { ok: false, why: software ? 'no WebGPU adapter: Dawn found no OpenGL (install libegl1, libgl1-mesa-dri; see docs/benchmarks-gpu.md)' : 'no WebGPU adapter on the Vulkan loader' };
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) return { ok: false, why: 'the tfjs webgpu backend failed to initialise' };
  registerWebgpuTrainingKernels();
  const name = `${adapter.info?.vendor ?? ''} ${adapter.info?.description ?? ''}`.trim();
  return { ok: true, adapter: `${software ? 'software' : 'hardware'}: ${name || 'unnamed adapter'}` };
}

let env: Promise<WebgpuEnv> | undefined;

/** The backend, set up once per test file; leaves 'webgpu' the active backend when ok. */
export function webgpuEnv(): Promise<WebgpuEnv> {
  env ??= bringUp().then((e) => {
    if (!e.ok) console.warn(`\n  webgpu parity suite SKIPPED: ${e.why}\n`);
    return e;
  });
  return env;
}
