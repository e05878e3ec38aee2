/**
 * How many threads the wasm backend trains on (wasm-threads.ts starts them). Apart from it, with
 * nothing of tfjs, so that the service can share cores out between jobs without loading tfjs.
 */
import { availableParallelism } from 'node:os';
import { ExecutorError } from '../errors.ts';

/** The most threads tfjs's threaded wasm build can use: emscripten starts a pool of 8 workers with it. */
export const MAX_WASM_THREADS = 8;

/**
 * Threads for the wasm backend: TL_THREADS if set, else one for each core this process may use,
 * up to 8, shared out between `jobs` processes training side by side (`tl serve --concurrency`):
 * the pool's threads wait for work spinning, so more threads than cores slow everyone.
 */
export function wasmThreads(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism(), jobs = 1): number {
  const asked = env['TL_THREADS'];
  if (asked === undefined || asked === '') return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(cores / jobs)));
  const n = Number(asked);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new ExecutorError('bad-setting', `TL_THREADS must be a whole number from 1 to ${MAX_WASM_THREADS}, not '${asked}'`);
  }
  return n;
}
