/**
 * measureBatchNorm (src/executor/batch-norm-stats.ts), which AdaBN and precise BN use: the population
 * statistics of each BatchNorm layer's input, each layer normalising by its batch's moments on the
 * way, against the same computed here in float64. On wasm through TL's training-mode BatchNorm op, on
 * cpu through tf.moments.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { BN_FORWARD, unregisterTrainingBatchNorm } from '../../src/executor/backends/batchnorm-training.ts';
import { registerWasmTrainingKernels } from '../../src/executor/backends/wasm-kernels.ts';
import { batchNormLayers, measureBatchNorm, type BatchNormStats } from '../../src/executor/batch-norm-stats.ts';

const COUNT = 10;
const SHAPE = [COUNT, 6, 6, 3];

/** conv 3x3 -> BatchNorm -> ReLU -> conv 1x1 -> BatchNorm, with gamma and beta that are not 1 and 0. */
function network(): tf.LayersModel {
  const input = tf.input({ shape: SHAPE.slice(1) });
  const bn = (name: string) =>
    tf.layers.batchNormalization({ name, gammaInitializer: tf.initializers.constant({ value: 1.5 }), betaInitializer: tf.initializers.constant({ value: 0.25 }) });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(bn('bn1').apply(h)) as tf.SymbolicTensor;
  h = tf.layers.conv2d({ filters: 5, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: bn('bn2').apply(h) as tf.SymbolicTensor });
}

/** Per-channel mean and (biased) variance of a channels-last tensor, in float64. */
function moments64(t: tf.Tensor): { mean: number[]; variance: number[] } {
  const c = t.shape.at(-1)!;
  const v = t.dataSync();
  const rows = v.length / c;
  const mean = Array.from({ length: c }, (_, k) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += v[r * c + k]!;
    return s / rows;
  });
  const variance = mean.map((m, k) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += (v[r * c + k]! - m) ** 2;
    return s / rows;
  });
  return { mean, variance };
}

/** What each BatchNorm should measure over all COUNT images taken as one batch. */
function reference(model: tf.LayersModel, x: tf.Tensor): Map<string, { mean: number[]; variance: number[] }> {
  const [conv1, bn1, , conv2] = model.layers.slice(1);
  const a = conv1!.apply(x) as tf.Tensor;
  const first = moments64(a);
  const [gamma, beta] = bn1!.getWeights().slice(0, 2).map((w) => w.dataSync());
  const c = a.shape.at(-1)!;
  const normalised = Array.from(a.dataSync(), (value, i) => {
    const k = i % c;
    return Math.max(0, gamma![k]! * ((value - first.mean[k]!) / Math.sqrt(first.variance[k]! + 1e-3)) + beta![k]!);
  });
  const b = conv2!.apply(tf.tensor(normalised, a.shape)) as tf.Tensor;
  return new Map([['bn1', first], ['bn2', moments64(b)]]);
}

function expectClose(measured: BatchNormStats | undefined, expected: { mean: number[]; variance: number[] }): void {
  for (const key of ['mean', 'variance'] as const) {
    const got = Array.from(measured![key]);
    got.forEach((g, k) => expect(Math.abs(g - expected[key][k]!)).toBeLessThan(1e-4 * (1 + Math.abs(expected[key][k]!))));
  }
}

const backends = [
  { name: 'wasm', op: true, setup: () => registerWasmTrainingKernels() },
  { name: 'cpu', op: false, setup: () => {} },
] as const;

afterAll(() => unregisterTrainingBatchNorm('wasm'));

describe.each(backends)('measureBatchNorm on $name', ({ name, op, setup }) => {
  it('measures each layer over one batch as the network normalises it, and writes nothing', async () => {
    await tf.setBackend(name);
    setup();
    const model = network();
    const layers = batchNormLayers(model);
    const x = tf.add(tf.mul(tf.randomUniform(SHAPE, -1, 1, 'float32', 7), 3), 5);
    const weightsBefore = model.getWeights().map((w) => Array.from(w.dataSync()));
    let stats = new Map<string, BatchNormStats>();
    const profile = await tf.profile(async () => {
      stats = await measureBatchNorm(model, layers, COUNT, (idx) => tf.gather(x, idx));
    });
    const expected = reference(model, x);
    expectClose(stats.get('bn1'), expected.get('bn1')!);
    expectClose(stats.get('bn2'), expected.get('bn2')!);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(weightsBefore);
    // The backend's op normalises and measures each layer in one kernel where there is one.
    const kernels = profile.kernels.map((k) => k.name);
    expect(kernels.filter((k) => k === BN_FORWARD)).toHaveLength(op ? 2 : 0);
    if (op) expect(kernels).not.toContain('Mean');
  });

  it('pools batches of any size into the statistics of the whole set', async () => {
    await tf.setBackend(name);
    setup();
    const model = network();
    const layers = batchNormLayers(model);
    const x = tf.add(tf.mul(tf.randomUniform(SHAPE, -1, 1, 'float32', 8), 2), -3);
    // The first layer's input does not depend on how the set is batched: its statistics are the set's.
    const expected = reference(model, x).get('bn1')!;
    for (const batchSize of [1, 3, 4, 64]) {
      const stats = await measureBatchNorm(model, layers, COUNT, (idx) => tf.gather(x, idx), batchSize);
      expectClose(stats.get('bn1'), expected);
    }
  });
});
