/**
 * The head's dropout draws a new mask at every training step, and the same masks on every run of
 * the same script: tfjs's seeded Dropout alone drops the same units at every step.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { assemble } from '../../src/executor/network.ts';
import { buildBase } from '../../src/executor/zoo/build-base.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The masks (which of 64 features survive) of the head's dropout over `steps` training calls. */
async function masks(seed: number, steps: number): Promise<string[]> {
  const { plan } = compile(`use tiny input 32; data "x"; head dropout 0.5; seed ${seed}`);
  const net = assemble(await buildBase(plan!.model, { baseDir: '.' }), plan!, 3);
  const dropout = net.head.layers.find((l) => l.getClassName() === 'Dropout')!;
  const x = tf.ones([1, 64]);
  const found: string[] = [];
  for (let i = 0; i < steps; i++) {
    const y = dropout.apply(x, { training: true }) as tf.Tensor;
    found.push(Array.from(await y.data(), (v) => (v === 0 ? '0' : '1')).join(''));
    y.dispose();
  }
  expect(Array.from(await (dropout.apply(x) as tf.Tensor).data())).toEqual(new Array(64).fill(1)); // inference: no mask
  x.dispose();
  net.full.dispose();
  return found;
}

it('draws a new mask each training step, the same sequence from the same seed, another from another', async () => {
  const first = await masks(42, 6);
  expect(new Set(first).size).toBe(6);
  for (const m of first) expect(m.split('').filter((c) => c === '0').length).toBeGreaterThan(10); // about half dropped
  expect(await masks(42, 6)).toEqual(first);
  expect(await masks(43, 6)).not.toEqual(first);
});
