/**
 * Brings up tfjs's webgpu backend for the GPU benchmark the way src/executor/backends/select.ts does
 * on a GPU (globals from `webgpu`, `navigator.gpu`, then the backend imported), with two knobs:
 * TL_DAWN_FLAGS (space-separated flags for Dawn's `create`, e.g.
 * `enable-dawn-features=allow_unsafe_apis` for timestamp queries), TL_TFJS_FLAGS (tfjs flags set
 * before the backend starts, e.g. `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64`) and BENCH_SOFTWARE=1
 * (Mesa's llvmpipe through OpenGL, to check the bundle on a machine without a GPU).
 */
import * as tf from '@tensorflow/tfjs';

interface Adapter {
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly description?: string };
  readonly features?: { has(name: string): boolean };
}
interface Gpu { requestAdapter(options?: object): Promise<Adapter | null>; readonly wgslLanguageFeatures?: unknown }
interface WebgpuModule { create(flags: string[]): Gpu; globals: Record<string, unknown> }

export interface Device {
  readonly adapter: string;
  readonly software: boolean;
  /** Whether the adapter offers GPU timestamps (then tf.time reports kernel time). */
  readonly timestamps: boolean;
  readonly flags: readonly string[];
}

export async function setUpWebgpu(): Promise<Device> {
  const webgpu = (await import('webgpu')) as unknown as WebgpuModule;
  Object.assign(globalThis, webgpu.globals);
  const software = process.env.BENCH_SOFTWARE === '1';
  if (software) process.env.EGL_PLATFORM ??= 'surfaceless';
  const flags = [...(software ? ['backend=opengl'] : []), ...(process.env.TL_DAWN_FLAGS ?? '').split(/\s+/).filter((f) => f !== '')];
  const raw = webgpu.create(flags);
  // Dawn's OpenGL adapter answers only requests for the compatibility feature level.
  const gpu: Gpu = software
    ? { requestAdapter: (o?: object) => raw.requestAdapter({ ...o, featureLevel: 'compatibility' }), wgslLanguageFeatures: raw.wgslLanguageFeatures }
    : raw;
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  const tfjsFlags = (process.env.TL_TFJS_FLAGS ?? '').split(',').filter((f) => f.includes('='));
  for (const flag of tfjsFlags) {
    const [name = '', value = ''] = flag.split('=');
    tf.env().set(name, value === 'true' ? true : value === 'false' ? false : Number.isNaN(Number(value)) ? value : Number(value));
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error('the tfjs webgpu backend failed to initialise');
  await tf.ready();
  const i = adapter.info ?? {};
  return {
    adapter: [i.vendor, i.architecture, i.description].filter((s) => s).join(' ') || 'unnamed adapter',
    software,
    timestamps: adapter.features?.has('timestamp-query') ?? false,
    flags: [...flags, ...tfjsFlags],
  };
}
