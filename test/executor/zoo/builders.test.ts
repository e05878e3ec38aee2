import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBase } from '../../../src/executor/zoo/build-base.ts';
import { BLOCKS, findZooModel, ZOO } from '../../../src/zoo/catalog.ts';
import { zoo } from './spec.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Parameters of keras.applications models with include_top=False (model.count_params()). */
const KERAS_PARAMS: Record<string, number> = {
  resnet50: 23_587_712,
  vgg16: 14_714_688,
  mobilenetv2: 2_257_984,
};

it('inceptionv3 has Keras InceptionV3 (include_top=False) parameters plus one frozen gamma of ones per BatchNorm', async () => {
  const base = await buildBase(zoo('inceptionv3', 75), { baseDir: '.' });
  try {
    const gammas = base.model.weights.filter((w) => w.originalName.endsWith('/gamma'));
    expect(gammas).toHaveLength(94);
    const gammaParams = gammas.reduce((n, w) => n + w.read().size, 0);
    expect(base.model.countParams() - gammaParams).toBe(21_802_784);
    expect(gammas.every((w) => !w.trainable)).toBe(true);
    expect(Array.from(await gammas[0]!.read().data()).every((v) => v === 1)).toBe(true);
  } finally {
    base.model.dispose();
  }
});

const SMALL_INPUT: Record<string, number> = { mobilenetv2: 32, inceptionv3: 75, resnet50: 32, vgg16: 32, tiny: 32 };

describe.each(ZOO.map((m) => m.name))('%s builder', (name) => {
  const entry = findZooModel(name)!;

  it('has the catalog layer names in model order and the catalog block map', async () => {
    const base = await buildBase(zoo(name, SMALL_INPUT[name]!), { baseDir: '.' });
    try {
      expect(base.layers).toEqual(entry.layers);
      expect(base.layers.length).toBeGreaterThan(10);
      BLOCKS.forEach((block, b) => {
        const end = entry.blockEnds[b]!;
        expect(base.blockOf(end)).toBe(block);
        const next = base.layers[base.layers.indexOf(end) + 1];
        if (next !== undefined) expect(base.blockOf(next)).toBe(BLOCKS[b + 1]);
      });
      expect(base.blockOf(base.layers[0]!)).toBe('block1');
      expect(base.hasBatchNorm).toBe(entry.hasBatchNorm);
      expect(base.model.inputs[0]!.shape).toEqual([null, SMALL_INPUT[name], SMALL_INPUT[name], 3]);
      const keras = KERAS_PARAMS[name];
      if (keras !== undefined) expect(base.model.countParams()).toBe(keras);
    } finally {
      base.model.dispose();
    }
  });
});

describe('feature shapes', () => {
  it.each([
    ['resnet50', 32, [null, 1, 1, 2048]],
    ['vgg16', 32, [null, 1, 1, 512]],
    ['tiny', 32, [null, 2, 2, 64]],
    ['tiny', 96, [null, 6, 6, 64]],
    ['mobilenetv2', 64, [null, 2, 2, 1280]],
    ['inceptionv3', 75, [null, 1, 1, 2048]],
  ] as const)('%s at %i px ends in %j', async (name, size, shape) => {
    const base = await buildBase(zoo(name, size), { baseDir: '.' });
    expect(base.model.outputShape).toEqual(shape);
    base.model.dispose();
  });

  it('runs tiny forward on a batch', async () => {
    const base = await buildBase(zoo('tiny', 32), { baseDir: '.' });
    const out = tf.tidy(() => base.model.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor);
    expect(out.shape).toEqual([2, 2, 2, 64]);
    out.dispose();
    base.model.dispose();
  });
});
