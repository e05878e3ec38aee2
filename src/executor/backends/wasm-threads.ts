/**
 * The tfjs wasm backend on several threads under Node.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build, whose XNNPACK products and convolutions
 * split their work over a pool of pthreads (emscripten runs each on a worker), but never picks it
 * under Node: its feature check answers no there, and its loader hands the workers their script
 * as a Blob URL, which Node's workers cannot start. So TL loads that build itself, the way Node
 * can: the worker script written to a private temporary file for as long as the pool takes to
 * start, the main script by its path. The backend made is tfjs's own class around that module, so
 * its kernels, and TL's (on its shared memory), are the same as on one thread.
 *
 * Two more things the build does not do under Node. It caps its pool at half of
 * `os.cpus().length` (it assumes two hyperthreads a core), one thread on a two-core machine, so
 * the count it reads is made to say what TL asks for while the module starts. And a running
 * pthread keeps Node's event loop alive, so a process that trained would never exit: the pool's
 * workers are unreferenced once it is up.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The parts of emscripten's module object this touches (emscripten 3.1 as tfjs 4.22 builds it). */
interface ThreadedModule {
  cwrap(name: string, returns: string | null, params: string[]): (...args: number[]) => number;
  PThread: { unusedWorkers: { unref(): void }[]; runningWorkers: { unref(): void }[] };
  tfjs?: unknown;
}

type Factory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

interface WasmPackage {
  BackendWasm: new (module: unknown) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/**
 * Makes the next `tf.setBackend('wasm')` start the threaded build on `threads` threads. Returns
 * a function that puts tfjs's own single-threaded registration back, for a caller whose start
 * on threads failed, or, where the wasm backend is already running (replacing it would drop its
 * tensors), why nothing was changed.
 */
export async function useThreadedWasm(threads: number): Promise<(() => void) | string> {
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  const original = tf.findBackendFactory('wasm');
  if (running()) return 'the wasm backend was already running';
  if (original === null) return 'the wasm backend is not registered';
  const require = createRequire(import.meta.url);
  const script = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const factory = require(script) as Factory;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    const module = await startModule(factory, script, threads);
    wasm.setThreadsCount(threads);
    const backend = new wasm.BackendWasm(module);
    // Every pthread is running now (XNNPACK's pool starts its threads at once); none may hold the process open.
    for (const worker of [...module.PThread.runningWorkers, ...module.PThread.unusedWorkers]) worker.unref();
    return backend;
  }, 2);
  return () => {
    if (running()) return;
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', original, 2);
  };
}

/**
 * Whether the wasm backend has been started. Not `tf.findBackend`, which starts a registered
 * backend it finds stopped: it began tfjs's own single-threaded module beside the threaded one,
 * for nothing, and when that one finished last its constructor set the package's thread count to 1.
 */
function running(): boolean {
  return 'wasm' in tf.engine().registry;
}

async function startModule(factory: Factory, script: string, threads: number): Promise<ThreadedModule> {
  const require = createRequire(import.meta.url);
  const folder = dirname(script);
  const { wasmWorkerContents } = require(join(folder, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const os = require('node:os') as { cpus: () => unknown[] };
  const cpus = os.cpus;
  const privateDir = mkdtempSync(join(tmpdir(), 'tl-wasm-'));
  try {
    const workerScript = join(privateDir, 'worker.cjs');
    // The package keeps the script as a template string, its escapes already undone (tfjs re-escapes newlines too).
    writeFileSync(workerScript, wasmWorkerContents.replace(/\n/g, '\\n'));
    os.cpus = () => Array.from({ length: 2 * threads }, () => cpus()[0]);
    const module = await withDeadline(STARTUP_MS, (abort) => factory({
      locateFile: (path: string) => (path.endsWith('.worker.js') ? workerScript : join(folder, path)),
      mainScriptUrlOrBlob: script,
      onAbort: (what: unknown) => abort(new Error(`the threaded wasm build aborted: ${String(what)}`)),
    }));
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    return module;
  } finally {
    os.cpus = cpus;
    // The pool's workers have read their script by the time the module is ready.
    rmSync(privateDir, { recursive: true, force: true });
  }
}

/** How long the module may take to start its pool (about 0.2 s here). */
const STARTUP_MS = 30_000;

/**
 * `start`'s promise, or an error after `ms`. A pool whose workers fail to load leaves the module's
 * promise pending with nothing else to wait for, and Node would exit quietly, status 0, mid-run.
 */
async function withDeadline<T>(ms: number, start: (abort: (err: Error) => void) => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the threaded wasm build did not start within ${ms / 1000} s`)), ms);
      start(reject).then(resolve, reject);
    });
  } finally {
    clearTimeout(timer);
  }
}
