import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { coralLoss } from '../../../src/executor/adapt/coral.ts';
import { epochs, fashionMini, planOf, run, shiftedCopy, tempDir, washedOut } from './helpers.ts';

describe('adapt coral', () => {
  it('is zero for identically distributed features and grows with the covariance gap', () => {
    const a = tf.randomNormal([64, 8], 0, 1, 'float32', 1) as tf.Tensor2D;
    expect(coralLoss(a, a).arraySync()).toBeCloseTo(0, 6);
    const small = coralLoss(a, tf.mul(a, 1.5) as tf.Tensor2D).arraySync() as number;
    const large = coralLoss(a, tf.mul(a, 3) as tf.Tensor2D).arraySync() as number;
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small);
  });

  let dir: string;
  let target: string;
  beforeAll(async () => {
    dir = await tempDir();
    target = await shiftedCopy(join(fashionMini, 'test'), join(dir, 'target'), washedOut);
  });

  it('runs, reports its loss each epoch, and pulls the covariances together', async () => {
    const script = (weight: number) => `use tiny input 32
data "${join(fashionMini, 'train')}"
freeze none
epochs 4
batch 32
lr 3e-3
seed 5
adapt coral weight ${weight} target "${target}"`;
    // A negligible weight measures the source-only covariance gap with the same steps and batches.
    const measured = epochs((await run(planOf(script(1e-6)), join(dir, 'a'))).events).map((e) => e.metrics.adaptLoss! / 1e-6);
    const aligned = epochs((await run(planOf(script(300)), join(dir, 'b'))).events).map((e) => e.metrics.adaptLoss! / 300);
    expect(measured).toHaveLength(4);
    expect(aligned.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(aligned.at(-1)!).toBeLessThan(measured.at(-1)! * 0.5);
  }, 120_000);
});
