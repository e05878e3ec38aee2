/**
 * Brings tfjs's webgpu backend up on Dawn (the `webgpu` package): on a GPU through Vulkan, or on
 * Mesa's llvmpipe through Dawn's OpenGL backend, which answers only adapter requests made at
 * `featureLevel: 'compatibility'` (tfjs makes its own request, so it is amended on its way; see
 * ../shared/FINDINGS.md). One bring-up for the executor (select.ts), the parity suite and the GPU
 * benchmark, so all three run on the same setup. Nothing here is imported statically by the
 * executor: it loads Dawn.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** Which adapter: `auto` is the GPU when there is one, else the software adapter. */
export type AdapterChoice = 'auto' | 'hardware' | 'software';

export interface WebgpuDevice {
  /** Vendor, architecture, device and description, as the adapter gives them. */
  readonly description: string;
  /** llvmpipe, lavapipe, SwiftShader or a fallback adapter: correct, far too slow to train on. */
  readonly software: boolean;
  /** Whether the adapter offers timestamp queries (tf.time then reports GPU time). */
  readonly timestamps: boolean;
}

export interface WebgpuOptions {
  readonly adapter?: AdapterChoice;
  /** Refuse a software adapter (the automatic backend choice: wasm trains faster than llvmpipe). */
  readonly hardwareOnly?: boolean;
  /** Flags for Dawn's `create`, e.g. `enable-dawn-features=allow_unsafe_apis`. */
  readonly dawnFlags?: readonly string[];
  /** tfjs flags to set before the backend starts, e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE. */
  readonly tfjsFlags?: Readonly<Record<string, number | boolean | string>>;
}

interface Adapter {
  readonly limits?: { readonly maxStorageBuffersPerShaderStage?: number };
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly device?: string; readonly description?: string };
  readonly features?: { has(name: string): boolean };
  readonly isFallbackAdapter?: boolean;
}
interface Gpu { requestAdapter(options?: object): Promise<Adapter | null>; readonly wgslLanguageFeatures?: unknown }
interface WebgpuModule { create(flags: string[]): Gpu; globals: Record<string, unknown> }

/** Dawn prints a warning of its own when it cannot find the Vulkan loader; look first, quietly. */
export function hasVulkanLoader(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.some((d) => d !== '' && existsSync(join(d, 'libvulkan.so.1')));
}

function describe(adapter: Adapter): string {
  const i = adapter.info ?? {};
  return [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(' ') || 'unnamed adapter';
}

/** The first adapter of the kinds `choice` allows, with the navigator.gpu it came from. */
async function findAdapter(webgpu: WebgpuModule, choice: AdapterChoice, dawnFlags: readonly string[]): Promise<{ gpu: Gpu; adapter: Adapter; viaOpenGL: boolean } | string> {
  const kinds = choice === 'auto' ? (hasVulkanLoader() ? ['hardware', 'software'] : ['software']) : [choice];
  const missed: string[] = [];
  for (const kind of kinds) {
    if (kind === 'hardware') {
      if (!hasVulkanLoader()) {
        missed.push('no Vulkan loader (libvulkan.so.1), so no GPU to reach');
        continue;
      }
      const gpu = webgpu.create([...dawnFlags]);
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (adapter) return { gpu, adapter, viaOpenGL: false };
      missed.push('no adapter on the Vulkan loader');
    } else {
      process.env.EGL_PLATFORM ??= 'surfaceless';
      const raw = webgpu.create(['backend=opengl', ...dawnFlags]);
      const gpu: Gpu = { requestAdapter: (o?: object) => raw.requestAdapter({ ...o, featureLevel: 'compatibility' }), wgslLanguageFeatures: raw.wgslLanguageFeatures };
      const adapter = await gpu.requestAdapter();
      if (adapter) return { gpu, adapter, viaOpenGL: true };
      missed.push('no software adapter: Dawn found no OpenGL (install libegl1 and libgl1-mesa-dri; docs/benchmarks-gpu.md)');
    }
  }
  return missed.join('; ');
}

/**
 * tfjs asks for a device with WebGPU's default of 8 storage buffers per shader stage. TL's packed
 * optimizer updates (optimizers.ts) bind several variables' buffers to one dispatch, as many as
 * the device allows, so the request is amended to the adapter's own limit (16 on llvmpipe; GPUs
 * allow more).
 */
function askForStorageBuffers(gpu: Gpu): Gpu {
  type Request = (descriptor?: { requiredLimits?: Record<string, number> }) => Promise<unknown>;
  const amend = (adapter: Adapter): Adapter =>
    new Proxy(adapter, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key === 'requestDevice') {
          const request = (value as Request).bind(target);
          const limit = target.limits?.maxStorageBuffersPerShaderStage;
          return (descriptor: Parameters<Request>[0] = {}) => request(limit === undefined ? descriptor : { ...descriptor, requiredLimits: { ...descriptor.requiredLimits, maxStorageBuffersPerShaderStage: limit } });
        }
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  return {
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    requestAdapter: async (options?: object) => {
      const adapter = await gpu.requestAdapter(options);
      return adapter && amend(adapter);
    },
  };
}

let started: Promise<WebgpuDevice> | undefined;

/**
 * Makes 'webgpu' tfjs's backend on the adapter `options` choose, or throws saying why it cannot.
 * A process has one webgpu backend: later calls make it the active backend again (another run may
 * have switched to wasm meanwhile) and return the first call's device.
 */
export async function startWebgpu(options: WebgpuOptions = {}): Promise<WebgpuDevice> {
  started ??= bringUp(options).catch((err: unknown) => {
    started = undefined;
    throw err;
  });
  const device = await started;
  if (tf.getBackend() !== 'webgpu' && !(await tf.setBackend('webgpu'))) throw new Error('the tfjs webgpu backend failed to initialise');
  return device;
}

async function bringUp(options: WebgpuOptions): Promise<WebgpuDevice> {
  let webgpu: WebgpuModule;
  try {
    webgpu = (await import('webgpu')) as unknown as WebgpuModule;
  } catch (err) {
    throw new Error(`the webgpu package does not load: ${(err as Error).message}`);
  }
  Object.assign(globalThis, webgpu.globals);
  const found = await findAdapter(webgpu, options.adapter ?? 'auto', options.dawnFlags ?? []);
  if (typeof found === 'string') throw new Error(found);
  const description = describe(found.adapter);
  const software = found.viaOpenGL || found.adapter.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader/i.test(description);
  if (software && options.hardwareOnly) throw new Error(`only a software adapter (${description}): too slow to train on`);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: askForStorageBuffers(found.gpu) }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  for (const [name, value] of Object.entries(options.tfjsFlags ?? {})) tf.env().set(name, value);
  if (!(await tf.setBackend('webgpu'))) throw new Error('the tfjs webgpu backend failed to initialise');
  await tf.ready();
  return { description, software, timestamps: found.adapter.features?.has('timestamp-query') ?? false };
}
