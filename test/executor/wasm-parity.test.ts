/**
 * TL's WebAssembly kernels on the wasm backend (src/executor/backends/wasm-kernels/) against cpu:
 * first with their tensors past 2 GB of heap, where an address is negative as an int32 (this file
 * runs in a fresh process, so its first allocations decide where the heap's free space lies), then
 * on the webgpu suite's random depthwise cases (channels 1 to 65, multipliers 1 to 3, every padding
 * form tfjs sizes right, dilation).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/executor/backends/wasm-kernels.ts';
import { memoryOf } from '../../src/executor/backends/wasm-kernels/heap.ts';
import { batchNormCases } from '../webgpu/cases/batchnorm.ts';
import { depthwiseCases } from '../webgpu/cases/depthwise.ts';
import { RELATIVE_TOLERANCE, worstError } from '../webgpu/parity.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  registerWasmTrainingKernels();
});

/** Where the wasm backend put a tensor's data. */
function addressOf(t: tf.Tensor): number {
  return (tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }).dataIdMap.get(t.dataId).memoryOffset;
}

describe('past 2 GB of wasm heap', () => {
  it('computes the BatchNorm op and the depthwise filter gradient as below it', async () => {
    const cases = [
      batchNormCases().find((c) => c.name.startsWith('a BatchNorm layer training with the ReLU6 after it fused')),
      depthwiseCases('wasm').find((c) => c.name.includes('x17') || c.name.includes('x32')),
    ];
    // Reserved and never written: its pages cost no memory, and what is allocated after it lies past 2 GB.
    const { malloc, free } = memoryOf(tf.backend());
    const reserved = malloc(2 ** 31 + 2 ** 20);
    try {
      const probe = tf.zeros([4]);
      expect(addressOf(probe)).toBeGreaterThan(2 ** 31);
      probe.dispose();
      for (const c of cases) expect(await worstError(c!, 'wasm')).toBeLessThan(RELATIVE_TOLERANCE);
    } finally {
      free(reserved);
    }
  });
});

describe('depthwise convolution gradients on wasm, against cpu', () => {
  for (const c of depthwiseCases('wasm')) {
    it(c.name, async () => {
      expect(await worstError(c, 'wasm')).toBeLessThan(RELATIVE_TOLERANCE);
    });
  }
});
