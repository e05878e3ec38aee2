import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { exactMean } from '../../../src/executor/augment/photometric.ts';
import { batchOf } from './helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('exactMean', () => {
  it.each([
    [1, 1],
    [5, 7],
    [24, 20],
  ])('matches the per-image, per-channel mean for %d x %d images', (h, w) => {
    const x = batchOf(3, h, w, 2, (i, r, c, ch) => Math.sin(i * 31 + r * 7 + c * 3 + ch));
    const [exact, reference] = tf.tidy(() => [exactMean(x).dataSync(), tf.mean(x, [1, 2]).dataSync()]);
    expect(exact!.length).toBe(6);
    exact!.forEach((v, k) => expect(v).toBeCloseTo(reference![k]!, 5));
    x.dispose();
  });
});
