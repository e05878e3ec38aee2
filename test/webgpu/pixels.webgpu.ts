/**
 * A batch of images to the network's input on webgpu (batches.ts imageBatch with TL's
 * PIXELS_TO_INPUT: the bytes uploaded four to a word and unpacked by one program) against the
 * portable path on cpu, for every preprocessing the zoo uses and sizes whose byte counts are not
 * whole words.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { PIXELS_TO_INPUT } from '../../src/executor/backends/webgpu/pixels.ts';
import { imageBatch } from '../../src/executor/batches.ts';
import { Pixels, type ImageSet } from '../../src/executor/data/index.ts';
import { PREPROCESS_CAFFE, PREPROCESS_SYMMETRIC, PREPROCESS_UNIT, type Preprocess } from '../../src/executor/zoo/preprocess.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** `count` images of `size` px whose bytes run through all of 0..255. */
function imageSet(count: number, size: number): ImageSet {
  const images = Uint8Array.from({ length: count * size * size * 3 }, (_, i) => (i * 97 + (i >> 8)) % 256);
  return { images: Pixels.from(images, size * size * 3), labels: new Int32Array(count), count, size, sources: [] };
}

const PREPROCESS: Record<string, Preprocess> = { caffe: PREPROCESS_CAFFE, symmetric: PREPROCESS_SYMMETRIC, unit: PREPROCESS_UNIT };

describe.skipIf(!env.ok)(`image batches on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each([
    ['caffe', 5, [3, 0, 4]],
    ['symmetric', 7, [1]],
    ['unit', 1, [2, 2, 0, 1, 2]],
    ['caffe', 33, [1, 0]],
    ['symmetric', 64, [2, 0, 1, 3]],
  ] as const)('%s, %i px, images %j: as the portable path on cpu', async (name, size, picks) => {
    // Five images: every index picked is one of them (Pixels refuses one that is not).
    const set = imageSet(5, size);
    const indices = Int32Array.from(picks);
    const batch = async (backend: string) => {
      await tf.setBackend(backend);
      const x = imageBatch(set, indices, PREPROCESS[name]!);
      const out = { shape: x.shape, values: Array.from(await x.data()) };
      x.dispose();
      return out;
    };
    const cpu = await batch('cpu');
    const gpu = await batch('webgpu');
    expect(gpu.shape).toEqual([picks.length, size, size, 3]);
    expect(gpu.values).toHaveLength(cpu.values.length);
    gpu.values.forEach((v, i) => expect(Math.abs(v - cpu.values[i]!), `value ${i}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(cpu.values[i]!))));
  });

  it('keeps each batch its own though the bytes go up from one buffer kept between batches', async () => {
    const set = imageSet(6, 24);
    const picks = [[5, 1, 3], [0, 2], [4, 4, 1, 0]].map((p) => Int32Array.from(p));
    // All batches made before any is read: each must hold its own images.
    const all = async (backend: string) => {
      await tf.setBackend(backend);
      const xs = picks.map((p) => imageBatch(set, p, PREPROCESS_SYMMETRIC));
      const values = await Promise.all(xs.map(async (x) => Array.from(await x.data())));
      tf.dispose(xs);
      return values;
    };
    const cpu = await all('cpu');
    const gpu = await all('webgpu');
    gpu.forEach((batch, b) => batch.forEach((v, i) => expect(Math.abs(v - cpu[b]![i]!), `batch ${b} value ${i}`).toBeLessThanOrEqual(1e-6)));
  });

  it('runs as one program of TL\'s, leaving the tensor count as it was', async () => {
    await tf.setBackend('webgpu');
    const set = imageSet(3, 16);
    const before = tf.memory().numTensors;
    const info = await tf.profile(() => imageBatch(set, [2, 0], PREPROCESS_CAFFE));
    expect(info.kernels.map((k) => k.name)).toEqual([PIXELS_TO_INPUT]);
    expect(tf.memory().numTensors).toBe(before + 1); // the batch alone
    tf.dispose(info.result as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
  });
});
