import * as tf from '@tensorflow/tfjs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBase } from '../../../src/executor/zoo/build-base.ts';
import { ZooError } from '../../../src/executor/zoo/errors.ts';
import { ramp, writeKerasH5, type H5Layer } from './keras-h5-writer.ts';
import { zoo } from './spec.ts';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'tl-zoo-h5-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TINY_LAYERS: H5Layer[] = [
  { name: 'block1_conv', weights: [{ name: 'block1_conv/kernel:0', shape: [3, 3, 3, 8], values: ramp([3, 3, 3, 8], 1) }] },
  {
    name: 'block2_bn',
    weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w, i) => ({
      name: `block2_bn/${w}:0`,
      shape: [16],
      values: ramp([16], 10 + i).map((v) => v + 1),
    })),
  },
  // A classifier layer the base does not have: ignored, as Keras' by_name loading does.
  { name: 'predictions', weights: [{ name: 'predictions/kernel:0', shape: [64, 10], values: ramp([64, 10], 3) }] },
];

async function valuesOf(base: Awaited<ReturnType<typeof buildBase>>, layer: string, weight: string): Promise<number[]> {
  const variable = base.model.getLayer(layer).weights.find((w) => w.originalName === `${layer}/${weight}`);
  if (!variable) throw new Error(`no ${layer}/${weight}`);
  return Array.from(await variable.read().data());
}

describe('Keras .h5 weights by layer name', () => {
  it.each([false, true])('sets exactly the layers in the file (whole-model layout: %s)', async (wholeModel) => {
    const path = join(dir, wholeModel ? 'model.h5' : 'weights.h5');
    await writeKerasH5(path, TINY_LAYERS, { wholeModel });
    const logs: string[] = [];
    const warnings: string[] = [];
    const base = await buildBase(zoo('tiny', 32, { weights: { kind: 'file', path: wholeModel ? 'model.h5' : 'weights.h5' } }), {
      baseDir: dir,
      log: (m) => logs.push(m),
      warn: (m) => warnings.push(m),
    });
    try {
      expect(await valuesOf(base, 'block1_conv', 'kernel')).toEqual(Array.from(TINY_LAYERS[0]!.weights[0]!.values));
      for (const [i, w] of ['gamma', 'beta', 'moving_mean', 'moving_variance'].entries()) {
        expect(await valuesOf(base, 'block2_bn', w)).toEqual(Array.from(TINY_LAYERS[1]!.weights[i]!.values));
      }
      // Layers absent from the file keep their initial values.
      expect(await valuesOf(base, 'block3_bn', 'moving_variance')).toEqual(new Array(32).fill(1));
      expect(logs.join('\n')).toContain('weights: 2 layers from');
      expect(logs.join('\n')).toContain('1 file layers unused');
      // A partial match is a warning the run shows: the rest of the base starts from scratch.
      expect(warnings).toEqual([
        `${path} has weights for 2 of the base's 10 layers that have weights; the other 8 (block1_bn, block2_conv, block3_conv, ...) start from their initial values, as no layer in the file has their name`,
      ]);
    } finally {
      base.model.dispose();
    }
  });

  it('reports a shape mismatch as weights-mismatch and writes nothing', async () => {
    const path = join(dir, 'wrong.h5');
    await writeKerasH5(path, [
      { name: 'block1_conv', weights: [{ name: 'block1_conv/kernel:0', shape: [3, 3, 3, 8], values: ramp([3, 3, 3, 8], 1) }] },
      { name: 'block2_conv', weights: [{ name: 'block2_conv/kernel:0', shape: [5, 5, 8, 16], values: ramp([5, 5, 8, 16], 2) }] },
    ]);
    const err = await buildBase(zoo('tiny', 32, { weights: { kind: 'file', path } }), { baseDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZooError);
    expect((err as ZooError).code).toBe('weights-mismatch');
    expect((err as ZooError).message).toContain("layer 'block2_conv' weight 'kernel' has shape [5, 5, 8, 16], expected [3, 3, 8, 16]");
  });

  it('rejects files that are not HDF5 or do not exist', async () => {
    await writeFile(join(dir, 'junk.h5'), 'not hdf5');
    await expect(buildBase(zoo('tiny', 32, { weights: { kind: 'file', path: 'junk.h5' } }), { baseDir: dir })).rejects.toMatchObject({
      code: 'weights-mismatch',
    });
    await expect(buildBase(zoo('tiny', 32, { weights: { kind: 'file', path: 'absent.h5' } }), { baseDir: dir })).rejects.toMatchObject({
      code: 'weights-missing',
    });
  });
});

describe('weights imagenet from the cache (Keras applications files)', () => {
  it('resnet50 without its file names the path, the URL and `tl weights fetch`', async () => {
    const cacheDir = join(dir, 'empty-cache');
    const err = await buildBase(zoo('resnet50', 32, { weights: { kind: 'imagenet' } }), { baseDir: dir, cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZooError);
    expect((err as ZooError).code).toBe('weights-missing');
    const message = (err as ZooError).message;
    expect(message).toContain(join(cacheDir, 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'));
    expect(message).toContain('https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
    expect(message).toContain('tl weights fetch resnet50');
  });

  it('uses $TL_CACHE when no cacheDir is given', async () => {
    const previous = process.env['TL_CACHE'];
    process.env['TL_CACHE'] = join(dir, 'env-cache');
    try {
      const err = await buildBase(zoo('vgg16', 32, { weights: { kind: 'imagenet' } }), { baseDir: dir }).catch((e: unknown) => e);
      expect((err as ZooError).message).toContain(join(dir, 'env-cache', 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'));
    } finally {
      if (previous === undefined) delete process.env['TL_CACHE'];
      else process.env['TL_CACHE'] = previous;
    }
  });

  it('an incomplete file in the cache is weights-mismatch, not a half-pretrained network', async () => {
    const cacheDir = join(dir, 'partial-cache');
    await mkdir(cacheDir, { recursive: true });
    await writeKerasH5(join(cacheDir, 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'), [
      {
        name: 'block1_conv1',
        weights: [
          { name: 'block1_conv1/kernel:0', shape: [3, 3, 3, 64], values: ramp([3, 3, 3, 64], 1) },
          { name: 'block1_conv1/bias:0', shape: [64], values: ramp([64], 2) },
        ],
      },
    ]);
    const err = await buildBase(zoo('vgg16', 32, { weights: { kind: 'imagenet' } }), { baseDir: dir, cacheDir }).catch((e: unknown) => e);
    expect((err as ZooError).code).toBe('weights-mismatch');
    expect((err as ZooError).message).toContain('lacks 12 layer(s): block1_conv2, block2_conv1');
  });

  it('vgg16 loads a complete Keras applications file (Keras 1 weight names) from the cache', async () => {
    const cacheDir = join(dir, 'full-cache');
    await mkdir(cacheDir, { recursive: true });
    const widths = [[3, 64], [64, 64], [64, 128], [128, 128], [128, 256], [256, 256], [256, 256], [256, 512], [512, 512], [512, 512], [512, 512], [512, 512], [512, 512]];
    const names = ['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2', 'block3_conv1', 'block3_conv2', 'block3_conv3', 'block4_conv1', 'block4_conv2', 'block4_conv3', 'block5_conv1', 'block5_conv2', 'block5_conv3'];
    const layers: H5Layer[] = names.map((name, i) => {
      const [cin, cout] = widths[i]!;
      return {
        name,
        // The real file comes from Keras 1 and names its weights this way; Keras loads them by position.
        weights: [
          { name: `${name}_W_1:0`, shape: [3, 3, cin!, cout!], values: ramp([3, 3, cin!, cout!], i) },
          { name: `${name}_b_1:0`, shape: [cout!], values: ramp([cout!], 100 + i) },
        ],
      };
    });
    // Keras lists the weightless input and pooling layers too.
    layers.splice(2, 0, { name: 'block1_pool', weights: [] });
    await writeKerasH5(join(cacheDir, 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'), layers);
    const logs: string[] = [];
    const base = await buildBase(zoo('vgg16', 32, { weights: { kind: 'imagenet' } }), { baseDir: dir, cacheDir, log: (m) => logs.push(m) });
    try {
      expect(logs.join('\n')).toContain('weights: 13 layers from');
      expect(await valuesOf(base, 'block5_conv3', 'bias')).toEqual(Array.from(ramp([512], 112)));
      const kernel = await valuesOf(base, 'block3_conv2', 'kernel');
      expect(kernel.slice(-1000)).toEqual(Array.from(ramp([3, 3, 256, 256], 5).slice(-1000)));
      expect(base.preprocess).toEqual({ kind: 'scale', channels: 'bgr', scale: [1, 1, 1], offset: [-103.939, -116.779, -123.68] });
    } finally {
      base.model.dispose();
    }
  });

  it('tiny has no ImageNet weights', async () => {
    await expect(buildBase(zoo('tiny', 32, { weights: { kind: 'imagenet' } }), { baseDir: dir })).rejects.toMatchObject({
      code: 'weights-missing',
    });
  });
});
