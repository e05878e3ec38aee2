/** The test set's scores: plain, or with test-time augmentation (each image's and its mirror's scores averaged). */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { imageBatch } from '../../src/executor/batches.ts';
import { finalMetrics, loadTestSet } from '../../src/executor/evaluate.ts';
import { prepareNetwork } from '../../src/executor/prepare.ts';

const root = join(import.meta.dirname, '..', '..');
const data = join(root, 'examples/data/fashion-mini');

describe('evaluate ... tta', () => {
  it('scores each test image as the mean of its and its mirror image\'s scores', async () => {
    const accuracy: Record<string, number> = {};
    for (const tta of [false, true]) {
      const { plan } = compile(`use tiny input 32\ndata "${join(data, 'train')}" split 0.2\nevaluate "${join(data, 'test')}"${tta ? ' tta' : ''}`);
      const { data: set, net } = await prepareNetwork(plan!, plan!.data!, { baseDir: root, backend: 'wasm' }, () => {});
      try {
        const test = await loadTestSet(plan!, set.classes, net.base.inputSize, { baseDir: root });
        expect(test!.tta).toBe(tta);
        const metrics = await finalMetrics(net, set, test, set.classes, null, null);
        // The same scores computed apart, all test images in one batch.
        const expected = tf.tidy(() => {
          const x = imageBatch(test!.images, Int32Array.from({ length: test!.images.count }, (_, i) => i), net.base.preprocess);
          const plain = net.full.predict(x) as tf.Tensor;
          const scores = tta ? tf.div(tf.add(plain, net.full.predict(tf.reverse(x, 2)) as tf.Tensor), 2) : plain;
          return tf.mean(tf.cast(tf.equal(tf.argMax(scores, 1), tf.tensor1d(test!.labels, 'int32')), 'float32')).dataSync()[0]!;
        });
        expect(metrics.testAccuracy).toBeCloseTo(expected, 6);
        accuracy[String(tta)] = metrics.testAccuracy!;
      } finally {
        net.full.dispose();
      }
    }
    // An untrained network: the mirror images change some of its answers.
    expect(accuracy['true']).not.toBe(accuracy['false']);
  }, 60_000);
});
