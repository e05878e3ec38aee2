import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBase } from '../../../src/executor/zoo/build-base.ts';
import { ZooError } from '../../../src/executor/zoo/errors.ts';
import { findZooModel } from '../../../src/zoo/catalog.ts';
import { zoo } from './spec.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('cut', () => {
  it('at a block keeps the base up to that block end', async () => {
    const base = await buildBase(zoo('resnet50', 64, { cut: { kind: 'block', block: 'block3' } }), { baseDir: '.' });
    try {
      expect(base.model.outputShape).toEqual([null, 8, 8, 512]);
      expect(base.layers.at(-1)).toBe('conv3_block4_out');
      const catalog = findZooModel('resnet50')!.layers;
      expect(base.layers).toEqual(catalog.slice(0, catalog.indexOf('conv3_block4_out') + 1));
      expect(base.blockOf('conv3_block4_out')).toBe('block3');
      expect(() => base.blockOf('conv4_block1_out')).toThrow(ZooError);
    } finally {
      base.model.dispose();
    }
  });

  it('at a named layer inside a block ends there', async () => {
    const base = await buildBase(zoo('resnet50', 32, { cut: { kind: 'layer', layer: 'conv4_block2_out' } }), { baseDir: '.' });
    try {
      expect(base.model.outputShape).toEqual([null, 2, 2, 1024]);
      expect(base.layers.at(-1)).toBe('conv4_block2_out');
      expect(base.blockOf('conv4_block2_out')).toBe('block4');
    } finally {
      base.model.dispose();
    }
  });

  it('at a block of vgg16 and of mobilenetv2', async () => {
    const vgg = await buildBase(zoo('vgg16', 32, { cut: { kind: 'block', block: 'block2' } }), { baseDir: '.' });
    expect(vgg.model.outputShape).toEqual([null, 8, 8, 128]);
    expect(vgg.hasBatchNorm).toBe(false);
    vgg.model.dispose();
    const mobile = await buildBase(zoo('mobilenetv2', 96, { cut: { kind: 'block', block: 'block4' } }), { baseDir: '.' });
    expect(mobile.model.outputShape).toEqual([null, 6, 6, 96]);
    expect(mobile.layers.at(-1)).toBe('block_12_add');
    mobile.model.dispose();
  });

  it('frees the weights of the layers it drops and runs forward', async () => {
    const before = tf.memory().numTensors;
    const full = await buildBase(zoo('tiny', 32), { baseDir: '.' });
    const fullTensors = tf.memory().numTensors - before;
    full.model.dispose();
    const base = await buildBase(zoo('tiny', 32, { cut: { kind: 'block', block: 'block2' } }), { baseDir: '.' });
    // conv kernel + 4 BatchNorm variables per block: two blocks kept of five.
    expect(fullTensors).toBe(25);
    expect(tf.memory().numTensors - before).toBe(10);
    const out = tf.tidy(() => base.model.predict(tf.ones([1, 32, 32, 3])) as tf.Tensor);
    expect(out.shape).toEqual([1, 16, 16, 16]);
    out.dispose();
    base.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('at an unknown layer fails with unknown-layer and a suggestion', async () => {
    const err = await buildBase(zoo('tiny', 32, { cut: { kind: 'layer', layer: 'block3_rleu' } }), { baseDir: '.' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZooError);
    expect((err as ZooError).code).toBe('unknown-layer');
    expect((err as ZooError).message).toContain("did you mean 'block3_relu'");
  });

  it('at an unknown block fails with unknown-block', async () => {
    const err = await buildBase(zoo('tiny', 32, { cut: { kind: 'block', block: 'block9' } }), { baseDir: '.' }).catch((e: unknown) => e);
    expect((err as ZooError).code).toBe('unknown-block');
  });

  it('rejects unknown models and too small inputs', async () => {
    await expect(buildBase(zoo('resnet5O', 32), { baseDir: '.' })).rejects.toMatchObject({ code: 'unknown-model' });
    await expect(buildBase(zoo('inceptionv3', 64), { baseDir: '.' })).rejects.toMatchObject({ code: 'bad-input' });
  });
});
