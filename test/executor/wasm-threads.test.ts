/**
 * The wasm backend on several threads (src/executor/backends/wasm-threads.ts): tfjs's threaded
 * build, started by TL under Node. Training in fresh processes on 1, 2 and 3 threads ends in the
 * same bytes, and each process exits by itself; TL's WebAssembly kernels run on the threaded
 * build's shared heap and agree with cpu; TL_THREADS is read as documented and reaches the
 * service's job processes.
 */
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/executor/backends/select.ts';
import { memoryOf } from '../../src/executor/backends/wasm-kernels/heap.ts';
import { MAX_WASM_THREADS, wasmThreads } from '../../src/executor/backends/threads.ts';
import { batchNormCases } from '../webgpu/cases/batchnorm.ts';
import { depthwiseCases } from '../webgpu/cases/depthwise.ts';
import { RELATIVE_TOLERANCE, worstError } from '../webgpu/parity.ts';
import { ForkRunner } from '../../src/service/fork-runner.ts';

const child = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/wasm-threads-child.ts');

interface ChildReport {
  reason: string;
  threads: number;
  shared: boolean;
  digest: string;
}

/** Runs the child on `threads` threads; rejects if it fails or has not exited after `limitMs`. */
function train(threads: number, limitMs = 60_000): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), child], { env: { ...process.env, TL_THREADS: String(threads) } });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    proc.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`on ${threads} threads the process had not exited after ${limitMs} ms; it printed: ${out}`));
    }, limitMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`on ${threads} threads the process exited with ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport);
    });
  });
}

describe('training on wasm threads', () => {
  it('ends in the same weights on 1, 2 and 3 threads, and each process exits by itself', async () => {
    const one = await train(1);
    const two = await train(2);
    const three = await train(3);
    expect(one).toMatchObject({ threads: 1, shared: false });
    expect(one.reason).toMatch(/WebAssembly on 1 thread,/);
    expect(two).toMatchObject({ threads: 2, shared: true });
    expect(two.reason).toMatch(/WebAssembly on 2 threads,/);
    expect(three).toMatchObject({ threads: 3, shared: true });
    // XNNPACK gives each thread whole output tiles, summed in the same order as on one thread.
    expect(two.digest).toBe(one.digest);
    expect(three.digest).toBe(one.digest);
  }, 180_000);
});

describe('TL_THREADS', () => {
  it('defaults to one thread a core, at most 8', () => {
    expect(wasmThreads({}, 2)).toBe(2);
    expect(wasmThreads({ TL_THREADS: '' }, 1)).toBe(1);
    expect(wasmThreads({}, 64)).toBe(MAX_WASM_THREADS);
  });

  it('shares the cores out between jobs that train side by side', () => {
    expect(wasmThreads({}, 8, 3)).toBe(2);
    expect(wasmThreads({}, 2, 4)).toBe(1);
    expect(wasmThreads({ TL_THREADS: '4' }, 8, 3)).toBe(4);
  });

  it('stops the backend choice when mistyped, rather than falling back to the slow cpu backend', async () => {
    const before = process.env['TL_THREADS'];
    process.env['TL_THREADS'] = 'four';
    try {
      await expect(selectBackend('auto')).rejects.toThrow("TL_THREADS must be a whole number from 1 to 8, not 'four'");
    } finally {
      if (before === undefined) delete process.env['TL_THREADS'];
      else process.env['TL_THREADS'] = before;
    }
  });

  it('reaches the processes the service trains in', async () => {
    const lines: string[] = [];
    const runner = new ForkRunner({ threads: 3, spare: false, log: (line) => lines.push(line) });
    try {
      const report = await runner.probe();
      const wasm = report.backends.find((b) => b.name === 'wasm');
      expect(wasm, `the probe reported ${JSON.stringify(report)}; its process printed:\n${lines.join('\n')}`).toMatchObject({ available: true, detail: expect.stringMatching(/WebAssembly on 3 threads,/) });
    } finally {
      await runner.close();
    }
  }, 120_000);

  it('takes a count from 1 to 8 and refuses anything else, saying what it wants', () => {
    expect(wasmThreads({ TL_THREADS: '3' }, 2)).toBe(3);
    expect(wasmThreads({ TL_THREADS: '1' }, 16)).toBe(1);
    for (const bad of ['0', '9', '2.5', 'many', '-1']) {
      expect(() => wasmThreads({ TL_THREADS: bad }, 4)).toThrow(`TL_THREADS must be a whole number from 1 to 8, not '${bad}'`);
    }
  });
});

describe('TL\'s WebAssembly kernels on the threaded build\'s shared heap, against cpu', () => {
  /** The backends tfjs's engine was asked to start while the threaded build was chosen. */
  const started: string[] = [];

  beforeAll(async () => {
    process.env['TL_THREADS'] = '2';
    const engine = tf.engine() as unknown as { initializeBackend(name: string): unknown };
    const initialize = engine.initializeBackend;
    engine.initializeBackend = (name) => (started.push(name), initialize.call(engine, name));
    const choice = await selectBackend('wasm').finally(() => (engine.initializeBackend = initialize));
    expect(choice.reason).toMatch(/on 2 threads/);
    expect(memoryOf(tf.backend()).memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  const cases = [
    ...batchNormCases().filter((c) => c.name.startsWith('a BatchNorm layer training')),
    ...depthwiseCases('wasm').slice(0, 6),
  ];
  it('starts one module: not tfjs\'s own single-threaded one beside it, which could set the thread count it reports to 1', () => {
    expect(started).toEqual(['wasm']);
  });

  it('says so when asked for more threads than the running backend has, and why', async () => {
    process.env['TL_THREADS'] = '3';
    try {
      const again = await selectBackend('wasm');
      expect(again.detail).toBe("WebAssembly on 2 threads (3 wanted: the wasm backend was already running), with TL's training kernels");
    } finally {
      process.env['TL_THREADS'] = '2';
    }
  });

  for (const c of cases) {
    it(c.name, async () => {
      expect(await worstError(c, 'wasm')).toBeLessThan(RELATIVE_TOLERANCE);
    });
  }
});
