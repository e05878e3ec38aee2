import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { coralLoss } from '../../../src/executor/adapt/coral.ts';
import { imageBatch } from '../../../src/executor/batches.ts';
import { measureBatchNorm } from '../../../src/executor/batch-norm-stats.ts';
import { loadUnlabeled } from '../../../src/executor/data/index.ts';
import { readTfjsModel } from '../../../src/executor/zoo/tfjs-files.ts';
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

  it('measures precise-BN statistics on the source-target mix its batches had', async () => {
    // 400 source images, 100 target ones: the mix cycles each target image 4 times, so the first
    // BatchNorm's population mean is exactly halfway between the two domains' means.
    const exported = join(dir, 'exported');
    await run(planOf(`use tiny input 32
data "${join(fashionMini, 'train')}" val "${join(fashionMini, 'test')}"
freeze none
epochs 1
batch 32
seed 5
adapt coral weight 100 target "${target}"
export "${exported}"`), join(dir, 'c'));
    const model = await tf.loadLayersModel(tf.io.fromMemory(await readTfjsModel(join(exported, 'model.json'))));
    const preprocess = JSON.parse(await readFile(join(exported, 'preprocess.json'), 'utf8'));
    const bn = model.getLayer('block1_bn');
    const meanOver = async (folder: string) => {
      const set = await loadUnlabeled(folder, { baseDir: dir, imageSize: 32, onCorrupt: 'stop' });
      const stats = await measureBatchNorm(model, [bn], set.count, (idx) => imageBatch({ ...set, labels: new Int32Array(set.count) }, idx, preprocess));
      return { count: set.count, mean: stats.get('block1_bn')!.mean };
    };
    const source = await meanOver(join(fashionMini, 'train'));
    const shifted = await meanOver(target);
    expect(source.count).toBe(4 * shifted.count);
    const saved = (await bn.getWeights()[2]!.data()) as Float32Array;
    const gap = Math.max(...source.mean.map((v, c) => Math.abs(v - shifted.mean[c]!)));
    expect(gap).toBeGreaterThan(0.05);
    // Float32 sums in another order differ by about 1e-4; source-only statistics would be off by gap / 2.
    source.mean.forEach((v, c) => expect(saved[c]!).toBeCloseTo((v + shifted.mean[c]!) / 2, 3));
    model.dispose();
  }, 120_000);
});
