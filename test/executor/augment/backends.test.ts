import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { augmentBatch } from '../../../src/executor/augment/augment-batch.ts';
import { createRng } from '../../../src/executor/augment/rng.ts';
import type { AugmentOp } from '../../../src/plan/schema.ts';
import { op, same } from './helpers.ts';

afterAll(async () => {
  await tf.setBackend('cpu');
});

const geometric: AugmentOp[] = [
  op({ op: 'flip', mode: 'both' }),
  op({ op: 'rotate', degrees: 30 }),
  op({ op: 'zoom', factor: 0.2 }),
  op({ op: 'translate', fraction: 0.15 }),
  op({ op: 'crop', fraction: 0.2 }),
];
const values: AugmentOp[] = [op({ op: 'brightness', delta: 0.2 }), op({ op: 'contrast', factor: 0.5 }), op({ op: 'noise', stddev: 0.05 })];

/** Augments the same random batch on a backend and returns the raw results. */
async function onBackend(backend: string, ops: AugmentOp[], seed: number) {
  await tf.setBackend(backend);
  await tf.ready();
  expect(tf.getBackend()).toBe(backend);
  const [n, h, w, c, k] = [6, 24, 20, 3, 5];
  const src = createRng(100);
  const pixels = Float32Array.from({ length: n * h * w * c }, () => src.uniform(-1, 1));
  const x = tf.tensor4d(pixels, [n, h, w, c]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), k).toFloat() as tf.Tensor2D);
  const count = tf.memory().numTensors;
  const out = augmentBatch(x, y, ops, createRng(seed), { range: [-1, 1] });
  const result = { x: (await out.x.data()) as Float32Array, y: (await out.y.data()) as Float32Array };
  tf.dispose([out.x, out.y]);
  expect(tf.memory().numTensors).toBe(count);
  tf.dispose([x, y]);
  return { ...result, input: pixels };
}

describe('augmentBatch on cpu and wasm', () => {
  it.each([
    ['flip only (the one-gather path)', [op({ op: 'flip', mode: 'both' })]],
    ['geometric ops', geometric],
    ['value ops', values],
    ['mixup', [op({ op: 'mixup', alpha: 0.4 })]],
    ['cutmix', [op({ op: 'cutmix', alpha: 1 })]],
    ['every op', [...geometric, ...values, op({ op: 'mixup', alpha: 0.4 }), op({ op: 'cutmix', alpha: 1 })]],
  ])('%s: the same seed gives bit-identical batches', async (_name, ops) => {
    for (const seed of [1, 2]) {
      const cpu = await onBackend('cpu', ops, seed);
      const wasm = await onBackend('wasm', ops, seed);
      expect(same(cpu.x, cpu.input)).toBe(false);
      expect(same(cpu.x, wasm.x)).toBe(true);
      expect(same(cpu.y, wasm.y)).toBe(true);
    }
  });
});
