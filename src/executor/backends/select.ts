/**
 * Picks the tfjs backend at run time. `auto` tries, in order: the native TensorFlow bindings
 * (tfjs-node-gpu, then tfjs-node: optional dependencies, absent where their install could not
 * download libtensorflow), WebGPU on a real GPU (Dawn through the `webgpu` package), then wasm with
 * TL's training kernels. `cpu` is the pure-JS reference. Nothing here is imported statically.
 */
import * as tf from '@tensorflow/tfjs';

import type { TileTuning } from '../events.ts';
import type { BackendName } from './names.ts';
import { plainSteps, type StepRunner } from './steps.ts';
import { wasmThreads } from './threads.ts';

export { BACKENDS, type BackendName } from './names.ts';

export interface SkippedBackend {
  readonly name: string;
  readonly why: string;
}

export interface BackendChoice {
  readonly name: string;
  /** What this backend is, as it runs here: "WebAssembly on 2 threads, with TL's training kernels". */
  readonly detail: string;
  /** The detail, then what was tried before it and why each was skipped. */
  readonly reason: string;
  readonly skipped: readonly SkippedBackend[];
}

/** No backend in the requested order would start; `skipped` says why each failed. */
export class NoBackendError extends Error {
  constructor(readonly skipped: readonly SkippedBackend[]) {
    super(`no usable tfjs backend: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}`);
    this.name = 'NoBackendError';
  }
}

async function tryTensorflow(): Promise<string> {
  const why: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
    } catch (err) {
      // Installed but broken is worth saying: its install script (which downloads libtensorflow)
      // failed or was not allowed to run.
      const { code, message } = err as NodeJS.ErrnoException;
      const absent = code === 'ERR_MODULE_NOT_FOUND' && message.includes(`'${pkg}'`);
      why.push(absent ? `${pkg} is not installed` : `${pkg} did not load: ${message.split('\n')[0]!.trim()}`);
      continue;
    }
    if (await tf.setBackend('tensorflow')) return pkg;
    why.push(`${pkg} loaded, but its backend failed to initialise`);
  }
  throw new Error(`${why.join('; ')} (both need libtensorflow, which their install script downloads)`);
}

/**
 * WebGPU through Dawn. Chosen automatically only on a GPU; asked for by name (`--backend webgpu`),
 * it takes the GPU when there is one and else the software adapter (correct, slow), and
 * TL_WEBGPU_ADAPTER=hardware|software forces one.
 */
async function tryWebgpu(explicit: boolean): Promise<string> {
  const { hasVulkanLoader, startWebgpu } = await import('./webgpu/adapter.ts');
  const forced = process.env.TL_WEBGPU_ADAPTER;
  const adapter = forced === 'hardware' || forced === 'software' ? forced : 'auto';
  // Looking for the loader first keeps Dawn from printing its own warning on machines without one.
  if (!explicit && !hasVulkanLoader()) throw new Error('no Vulkan loader (libvulkan.so.1), so no GPU to reach');
  const device = await startWebgpu({ adapter: explicit ? adapter : 'hardware', hardwareOnly: !explicit });
  const { registerWebgpuTrainingKernels } = await import('./webgpu/index.ts');
  registerWebgpuTrainingKernels();
  (await import('./webgpu/gemm.ts')).setUnmeasuredTile(device.software ? 'by-shape' : '64x64');
  const tune = process.env.TL_GEMM_TUNE;
  tuningDevice = tune === '1' || (tune !== '0' && !device.software) ? device.description : undefined;
  return `${device.description}${device.software ? ' (software adapter: slow)' : ''}`;
}

/** The device models are tuned on before training, if they are (webgpu on a GPU; TL_GEMM_TUNE=1|0 forces it). */
let tuningDevice: string | undefined;

/** What preparing a model for training did: how its products got their tiles (null where nothing was tuned), and what went wrong. */
export interface Prepared {
  readonly tiles: TileTuning | null;
  readonly warning: string | null;
}

/**
 * Prepares a model about to train at `batch` on the chosen backend. On WebGPU on a GPU: each of
 * its convolutions' products takes the GEMM tile measured fastest on the device
 * (webgpu/tune.ts; a few seconds, once per distinct product), those of a training step and, where
 * given, those of `evaluation` (the inference pass the phase's validation runs); the choices are
 * kept between runs in the tile cache (webgpu/tile-cache.ts; TL_TUNE_CACHE). Elsewhere: nothing.
 * A failure here costs speed, not the run: it is returned as a warning and training goes on with
 * tiles by shape.
 */
export async function prepareForTraining(backend: BackendChoice, model: tf.LayersModel, batch: number, evaluation?: () => tf.Tensor): Promise<Prepared> {
  if (backend.name !== 'webgpu' || tuningDevice === undefined) return { tiles: null, warning: null };
  const problems: string[] = [];
  const tiles = { products: 0, measured: 0, cached: 0, seconds: 0 };
  try {
    const { trainingPass, tuneGemmTiles } = await import('./webgpu/tune.ts');
    const { openTileCache, tileCacheFile } = await import('./webgpu/tile-cache.ts');
    const file = tileCacheFile();
    const cache = file === undefined ? undefined : openTileCache(file, tuningDevice);
    if (cache?.problem !== undefined) problems.push(`${cache.problem}; measuring again`);
    for (const pass of [trainingPass(model, batch), ...(evaluation ? [evaluation] : [])]) {
      const tuned = await tuneGemmTiles(pass, cache);
      tiles.products += tuned.products;
      tiles.measured += tuned.measured.length;
      tiles.cached += tuned.cached;
      tiles.seconds += tuned.ms / 1000;
    }
    const unsaved = cache?.save();
    if (unsaved !== undefined) problems.push(unsaved);
  } catch (err) {
    problems.push(`measuring the GEMM tiles failed (${(err as Error).message}); training with tiles chosen by shape`);
  }
  return { tiles, warning: problems.length > 0 ? problems.join('; ') : null };
}

/**
 * How the executor runs its training steps and inference batches on `backendName`: on webgpu with
 * TL's kernels, recorded once they repeat and then replayed (webgpu/step-graph.ts); elsewhere, or
 * with TL_STEP_REPLAY=0, each as it is.
 */
export async function stepRunner(backendName: string): Promise<StepRunner> {
  if (backendName !== 'webgpu' || process.env.TL_STEP_REPLAY === '0') return plainSteps;
  const { webgpuBackendOf } = await import('./webgpu/backend.ts');
  const { stepGraphs } = await import('./webgpu/step-graph.ts');
  return stepGraphs(webgpuBackendOf(tf.backend())) ?? plainSteps;
}

/**
 * WebAssembly: tfjs's threaded build on TL_THREADS threads (default: one a core, up to 8;
 * threads.ts, wasm-threads.ts), or its single-threaded build where that is 1 or the threaded one fails to start.
 */
async function tryWasm(): Promise<string> {
  const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
  const { useThreadedWasm } = await import('./wasm-threads.ts');
  const threads = wasmThreads();
  let why = 'the wasm backend was already running';
  if (threads > 1) {
    const undo = await useThreadedWasm(threads);
    if (typeof undo === 'string') why = undo;
    else if (!(await tf.setBackend('wasm'))) {
      undo();
      why = 'the threaded build failed to start';
    } else why = 'the threaded build started fewer';
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
  const { registerWasmTrainingKernels } = await import('./wasm-kernels.ts');
  registerWasmTrainingKernels();
  const running = getThreadsCount();
  // Other than asked for is said, and why: a silent one thread would cost a user half the speed unseen.
  const note = running === threads ? '' : ` (${threads} wanted: ${why})`;
  return `WebAssembly on ${running} thread${running === 1 ? '' : 's'}${note}, with TL's training kernels`;
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
  const skipped: SkippedBackend[] = [];
  // A mistyped TL_THREADS is the user's error to fix, not a reason to fall back to the slow cpu backend.
  if (order.includes('wasm')) wasmThreads();
  for (const name of order) {
    try {
      const detail = await ATTEMPTS[name](requested !== 'auto');
      await tf.ready();
      const why = skipped.length ? `; skipped ${skipped.map((s) => `${s.name} (${s.why})`).join(', ')}` : '';
      return { name, detail, reason: `${detail}${why}`, skipped };
    } catch (err) {
      skipped.push({ name, why: (err as Error).message });
    }
  }
  throw new NoBackendError(skipped);
}
