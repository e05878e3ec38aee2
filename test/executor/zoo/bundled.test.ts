import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBase } from '../../../src/executor/zoo/build-base.ts';
import { loadBundledTopology, loadBundledWeights } from '../../../src/executor/zoo/nsfwjs-bundle.ts';
import { applyPreprocess } from '../../../src/executor/zoo/preprocess.ts';
import { zoo } from './spec.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('nsfwjs-bundled pretrained weights', () => {
  it('mobilenetv2 at 96 px loads the shard values and gives 3x3x1280 features', async () => {
    const logs: string[] = [];
    const tensorsBefore = tf.memory().numTensors;
    const base = await buildBase(zoo('mobilenetv2', 96, { weights: { kind: 'imagenet' } }), { baseDir: '.', log: (m) => logs.push(m) });
    // Only the model's variables stay: the decoded shards (classifier included) were released.
    expect(tf.memory().numTensors - tensorsBefore).toBe(base.model.weights.length);
    const decoded = loadBundledWeights('mobilenetv2', loadBundledTopology('mobilenetv2').weightsManifest);
    try {
      for (const [layer, weight] of [['Conv1', 'kernel'], ['block_16_project_BN', 'moving_variance']] as const) {
        const variable = base.model.getLayer(layer).weights.find((w) => w.originalName === `${layer}/${weight}`)!;
        const expected = decoded[`${layer}/${weight}`]!;
        expect(variable.shape).toEqual(expected.shape);
        expect(Array.from(await variable.read().data())).toEqual(Array.from(await expected.data()));
      }
      // Not the fresh initialiser: ImageNet BatchNorm statistics are far from 0 / 1.
      const mean = await base.model.getLayer('bn_Conv1').weights.find((w) => w.originalName.endsWith('moving_mean'))!.read().data();
      expect(Math.max(...Array.from(mean).map(Math.abs))).toBeGreaterThan(0.1);
      expect(logs.join('\n')).toMatch(/weights: 104 layers from the nsfwjs mobilenetv2 bundle; 3 file layers unused/);

      const images = tf.randomUniform([2, 96, 96, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
      const features = tf.tidy(() => base.model.predict(applyPreprocess(images, base.preprocess)) as tf.Tensor);
      expect(features.shape).toEqual([2, 3, 3, 1280]);
      // out_relu is a ReLU6: pretrained features are non-negative, bounded and not all zero.
      const values = await features.data();
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...values)).toBeLessThanOrEqual(6);
      expect(values.some((v) => v > 0)).toBe(true);
      tf.dispose([images, features]);
      expect(base.preprocess).toMatchObject({ channels: 'rgb', offset: [-1, -1, -1] });
    } finally {
      tf.dispose(decoded);
      base.model.dispose();
    }
  });

  it('inceptionv3 (scale-less BatchNorm) loads and trains: a fit step changes kernels, not the frozen gammas', async () => {
    const logs: string[] = [];
    // The cut keeps the stem's first conv + BatchNorm: the cpu backend's conv gradients are too slow for more.
    const base = await buildBase(zoo('inceptionv3', 75, { weights: { kind: 'imagenet' }, cut: { kind: 'layer', layer: 'activation_1' } }), {
      baseDir: '.',
      log: (m) => logs.push(m),
    });
    expect(logs.join('\n')).toMatch(/weights: 188 layers from the nsfwjs inceptionv3 bundle/);
    const pooled = tf.layers.globalAveragePooling2d({}).apply(base.model.outputs[0]!) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
    const model = tf.model({ inputs: base.model.inputs, outputs: logits });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    const kernel = base.model.getLayer('conv2d_1').weights[0]!;
    const gamma = base.model.getLayer('batch_normalization_1').weights.find((w) => w.originalName.endsWith('gamma'))!;
    const kernelBefore = await kernel.read().data();
    const x = tf.randomUniform([2, 75, 75, 3], -1, 1, 'float32', 2);
    const y = tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2);
    const history = await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    expect(Number.isFinite(history.history['loss']![0] as number)).toBe(true);
    const kernelAfter = await kernel.read().data();
    expect(kernelAfter.some((v, i) => v !== kernelBefore[i])).toBe(true);
    expect(Array.from(await gamma.read().data()).every((v) => v === 1)).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
  });
});
