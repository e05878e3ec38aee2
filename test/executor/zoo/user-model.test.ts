import * as tf from '@tensorflow/tfjs';
import { cp, mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBase } from '../../../src/executor/zoo/build-base.ts';
import { saveToDirectory } from '../../../src/executor/zoo/tfjs-files.ts';
import { userModel, zoo } from './spec.ts';

let dir: string;
let saved: Map<string, number[]>;

/** A small classifier: conv/BN stem at full size, then three stride-2 stages, then flatten + dense. */
function classifier(): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3], name: 'image' });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) => layer.apply(x) as tf.SymbolicTensor;
  let x = apply(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'stem' }), input);
  x = apply(tf.layers.batchNormalization({ name: 'stem_bn' }), x);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'down1' }), x);
  x = apply(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }), x);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'down3' }), x);
  x = apply(tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', name: 'down4' }), x);
  x = apply(tf.layers.flatten({ name: 'flat' }), x);
  x = apply(tf.layers.dense({ units: 3, activation: 'softmax', name: 'head' }), x);
  return tf.model({ inputs: input, outputs: x });
}

async function weightOf(model: tf.LayersModel, layer: string): Promise<number[]> {
  return Array.from(await model.getLayer(layer).weights[0]!.read().data());
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'tl-zoo-user-'));
  const model = classifier();
  await model.save(saveToDirectory(join(dir, 'functional')));
  saved = new Map();
  for (const name of ['stem', 'down4']) saved.set(name, await weightOf(model, name));
  model.dispose();
  const seq = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 's1' }),
      tf.layers.batchNormalization({ scale: false, name: 's1_bn' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 's2' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 2, name: 'out' }),
    ],
  });
  await seq.save(saveToDirectory(join(dir, 'sequential')));
  seq.dispose();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('user model.json as a base', () => {
  it('loads its saved weights, drops the flatten/dense head and maps blocks from strides', async () => {
    const base = await buildBase(userModel('functional'), { baseDir: dir });
    try {
      expect(base.layers).toEqual(['stem', 'stem_bn', 'down1', 'pool', 'down3', 'down4']);
      expect(base.model.outputShape).toEqual([null, 2, 2, 16]);
      expect(base.layers.map(base.blockOf)).toEqual(['block1', 'block1', 'block1', 'block2', 'block3', 'block4']);
      expect(base.inputSize).toBe(32);
      expect(base.hasBatchNorm).toBe(true);
      expect(base.preprocess.scale[0]).toBeCloseTo(1 / 255);
      expect(await weightOf(base.model, 'stem')).toEqual(saved.get('stem'));
      expect(await weightOf(base.model, 'down4')).toEqual(saved.get('down4'));
      expect(base.name).toBe(join(dir, 'functional'));
    } finally {
      base.model.dispose();
    }
  });

  it('accepts the model.json path itself, another input size and a cut', async () => {
    const base = await buildBase(userModel('functional/model.json', { input: 64, cut: { kind: 'block', block: 'block2' } }), { baseDir: dir });
    try {
      expect(base.model.inputs[0]!.shape).toEqual([null, 64, 64, 3]);
      expect(base.model.outputShape).toEqual([null, 16, 16, 8]);
      expect(base.layers.at(-1)).toBe('pool');
      expect(await weightOf(base.model, 'stem')).toEqual(saved.get('stem'));
    } finally {
      base.model.dispose();
    }
  });

  it('with `weights none` starts fresh', async () => {
    const base = await buildBase(userModel('functional', { weights: { kind: 'none' } }), { baseDir: dir });
    expect(await weightOf(base.model, 'stem')).not.toEqual(saved.get('stem'));
    base.model.dispose();
  });

  it('loads a Sequential model, cut before its pooling head, and trains its scale-less BatchNorm', async () => {
    const base = await buildBase(userModel('sequential'), { baseDir: dir });
    try {
      expect(base.layers).toEqual(['s1', 's1_bn', 's2']);
      expect(base.layers.map(base.blockOf)).toEqual(['block1', 'block1', 'block2']);
      const x = tf.ones([2, 16, 16, 3]);
      const grads = tf.variableGrads(() => tf.mean(base.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      expect(Object.keys(grads.grads).length).toBeGreaterThan(0);
      tf.dispose([x, grads.value, ...Object.values(grads.grads)]);
    } finally {
      base.model.dispose();
    }
  });

  it('a tfjs model.json folder serves as `weights "path"` for a zoo model, by layer name', async () => {
    const trained = await buildBase(zoo('tiny', 32), { baseDir: dir });
    await trained.model.save(saveToDirectory(join(dir, 'tiny-weights')));
    const base = await buildBase(zoo('tiny', 64, { weights: { kind: 'file', path: 'tiny-weights' } }), { baseDir: dir });
    try {
      for (const layer of ['block1_conv', 'block5_bn']) {
        expect(await weightOf(base.model, layer)).toEqual(await weightOf(trained.model, layer));
      }
    } finally {
      trained.model.dispose();
      base.model.dispose();
    }
  });

  it('a missing model is model-not-found', async () => {
    await expect(buildBase(userModel('nowhere/model.json'), { baseDir: dir })).rejects.toMatchObject({
      code: 'model-not-found',
      message: expect.stringContaining('does not exist'),
    });
  });

  it('a damaged model says which file and why: not JSON, no topology, a missing or truncated weights file', async () => {
    const broken = join(dir, 'broken');
    const copy = async (name: string, damage: (folder: string) => Promise<void>) => {
      await cp(join(dir, 'functional'), join(broken, name), { recursive: true });
      await damage(join(broken, name));
      return buildBase(userModel(`broken/${name}/model.json`), { baseDir: dir });
    };
    const refused = (message: string | RegExp) => ({ code: 'model-not-found', message: expect.stringMatching(message) });
    await expect(copy('text', (f) => writeFile(join(f, 'model.json'), 'not json\nat all'))).rejects.toMatchObject(refused(/model\.json is not JSON \(.*\)\.$/));
    await expect(copy('topology', (f) => writeFile(join(f, 'model.json'), '{"modelTopology": 5}'))).rejects.toMatchObject(refused('has no modelTopology'));
    await expect(copy('shard', (f) => rm(join(f, 'weights.bin')))).rejects.toMatchObject(refused(/names the weights file .*weights\.bin, which does not exist/));
    const size = (await stat(join(dir, 'functional', 'weights.bin'))).size;
    await expect(copy('truncated', (f) => truncate(join(f, 'weights.bin'), 100))).rejects.toMatchObject(refused(`weights need ${size} bytes, but its weights files hold 100`));
  });
});
