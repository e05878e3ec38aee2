/**
 * BatchNorm folded into the convolution before it for inference (src/executor/fold-batchnorm.ts):
 * the same predictions with fewer ops, on hand-built chains of every kind and on the zoo's
 * networks; weights that change are folded again; training calls and values the model outputs
 * stay as they are; restore puts everything back. And which BatchNorms training marks to apply
 * the ReLU after them (on webgpu; tested there, in test/webgpu).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { activationAfter } from '../../src/executor/backends/fused-activation.ts';
import { foldBatchNorms, fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { createRng } from '../../src/executor/augment/rng.ts';
import { buildNetwork } from '../../src/executor/zoo/networks.ts';
import { paddedConvnet, trainPadded } from './fixtures/padded-convnet.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function values(shape: readonly number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const rng = createRng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.next()), [...shape]);
}

/** Gives every BatchNorm statistics and an affine part far from the defaults (mean 0, variance 1), so that folding them is not trivially right. */
function randomizeBatchNorms(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const names = layer.weights.map((w) => w.originalName);
    layer.setWeights(layer.getWeights().map((w, i) => {
      const name = names[i]!;
      const positive = name.includes('variance') || name.includes('gamma');
      return values(w.shape, s++, positive ? 0.5 : -0.5, positive ? 2 : 0.5);
    }));
  }
}

function worst(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / Math.max(scale, 1e-6);
}

/** The kernels one call of `f` runs; its result is disposed. */
async function kernelsOf(f: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const { kernels, result } = await tf.profile(f);
  tf.dispose(result as tf.Tensor | tf.Tensor[]);
  return kernels.map((k) => k.name);
}

/**
 * Every kind of chain, and chains that must not fold. `bn2` has neither gamma nor beta unless
 * `affine` (tfjs-layers 4.22 cannot run such a BatchNorm in training mode).
 */
function chains(affine = false): tf.LayersModel {
  const input = tf.input({ shape: [9, 9, 4] });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
  // conv (bias) -> BN -> ReLU6 layer
  let x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'c1' }), input);
  x = apply(tf.layers.batchNormalization({ name: 'bn1' }), x);
  x = apply(tf.layers.reLU({ maxValue: 6, name: 'relu6' }), x);
  // depthwise (no bias, multiplier 2, stride 2) -> BN without gamma or beta -> relu Activation
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', useBias: false, name: 'd2' }), x);
  x = apply(tf.layers.batchNormalization({ center: affine, scale: affine, name: 'bn2' }), x);
  const branch = apply(tf.layers.activation({ activation: 'relu', name: 'act2' }), x);
  // conv -> BN -> Add (no activation folded)
  let y = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, name: 'c3' }), branch);
  y = apply(tf.layers.batchNormalization({ name: 'bn3' }), y);
  y = apply(tf.layers.add({ name: 'add' }), [y, branch]);
  // conv -> BN -> tanh Activation (BN folds, tanh stays), dilated
  let z = apply(tf.layers.conv2d({ filters: 16, kernelSize: 3, dilationRate: 2, padding: 'same', name: 'c4' }), y);
  z = apply(tf.layers.batchNormalization({ name: 'bn4' }), z);
  z = apply(tf.layers.activation({ activation: 'tanh', name: 'tanh4' }), z);
  // conv whose output feeds two layers: not folded
  const shared = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'c5' }), z);
  const w = apply(tf.layers.add({ name: 'add5' }), [apply(tf.layers.batchNormalization({ name: 'bn5' }), shared), shared]);
  // conv with its own activation: not folded
  let v = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, activation: 'relu', name: 'c6' }), w);
  v = apply(tf.layers.batchNormalization({ name: 'bn6' }), v);
  // conv -> BN -> ReLU where the BN's output is also a model output: the ReLU stays
  let u = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'c7' }), v);
  const bnOut = apply(tf.layers.batchNormalization({ name: 'bn7' }), u);
  u = apply(tf.layers.reLU({ name: 'relu7' }), bnOut);
  const pooled = apply(tf.layers.globalAveragePooling2d({}), u);
  return tf.model({ inputs: input, outputs: [apply(tf.layers.dense({ units: 3, name: 'out' }), pooled), bnOut] });
}

describe('folding BatchNorm into convolutions for inference', () => {
  it('folds every chain it may and predicts as before, with fewer ops', async () => {
    const model = chains();
    randomizeBatchNorms(model, 10);
    const x = values([2, 9, 9, 4], 1);
    const before = tf.memory().numTensors;
    const plain = model.predict(x) as tf.Tensor[];
    const plainKernels = await kernelsOf(() => model.predict(x) as tf.Tensor[]);

    const folded = foldBatchNorms(model);
    expect(folded.chains).toEqual([
      { conv: 'c1', batchNorm: 'bn1', activation: 'relu6' },
      { conv: 'd2', batchNorm: 'bn2', activation: 'act2' },
      { conv: 'c3', batchNorm: 'bn3', activation: null },
      { conv: 'c4', batchNorm: 'bn4', activation: null },
      { conv: 'c7', batchNorm: 'bn7', activation: null },
    ]);
    const fused = model.predict(x) as tf.Tensor[];
    const fusedKernels = await kernelsOf(() => model.predict(x) as tf.Tensor[]);
    for (let i = 0; i < 2; i++) expect(worst((await fused[i]!.data()) as Float32Array, (await plain[i]!.data()) as Float32Array)).toBeLessThan(1e-5);
    // Two BatchNorms are left (bn5 beside a shared conv, bn6 after a conv's own relu), and relu7.
    expect(plainKernels.filter((k) => k === 'FusedBatchNorm')).toHaveLength(7);
    expect(fusedKernels.filter((k) => k === 'FusedBatchNorm')).toHaveLength(2);
    expect(fusedKernels.filter((k) => k === 'FusedDepthwiseConv2D')).toHaveLength(1);
    // relu6's Relu and ClipByValue and act2's Relu ride in the convolutions; relu7 stays.
    const count = (kernels: string[], name: string) => kernels.filter((k) => k === name).length;
    expect(count(plainKernels, 'ClipByValue') - count(fusedKernels, 'ClipByValue')).toBe(1);
    expect(count(plainKernels, 'Relu') - count(fusedKernels, 'Relu')).toBe(2);

    folded.restore();
    tf.dispose([...plain, ...fused]);
    expect(tf.memory().numTensors).toBe(before);
    for (const layer of model.layers) expect(Object.prototype.hasOwnProperty.call(layer, 'call'), layer.name).toBe(false);
    tf.dispose(x);
    model.dispose();
  });

  it('has each residual Add that only a ReLU reads apply it, the ReLU passing through: the same predictions', async () => {
    const input = tf.input({ shape: [6, 6, 4] });
    const conv = (name: string, x: tf.SymbolicTensor) => tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name, kernelInitializer: tf.initializers.glorotUniform({ seed: name.length }) }).apply(x) as tf.SymbolicTensor;
    const sum = (name: string, x: tf.SymbolicTensor) => tf.layers.add({ name }).apply([x, conv(`${name}c`, x)]) as tf.SymbolicTensor;
    const r1 = tf.layers.reLU({ name: 'r1' }).apply(sum('a1', input)) as tf.SymbolicTensor; // fused
    const r2 = tf.layers.reLU({ maxValue: 6, name: 'r2' }).apply(sum('a2', r1)) as tf.SymbolicTensor; // relu6: not fused
    const a3 = sum('a3', r2);
    const r3 = tf.layers.activation({ activation: 'relu', name: 'r3' }).apply(a3) as tf.SymbolicTensor; // read beside the ReLU: not fused
    const out = tf.layers.add({ name: 'a4' }).apply([r3, a3]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.activation({ activation: 'relu', name: 'r4' }).apply(out) as tf.SymbolicTensor }); // fused
    // Large enough that relu6 clips: fusing it as a plain ReLU would show.
    const x = values([2, 6, 6, 4], 3, -12, 12);
    const plain = model.predict(x) as tf.Tensor;
    const before = tf.memory().numTensors;
    const folded = foldBatchNorms(model);
    expect(folded.adds).toEqual([{ add: 'a1', activation: 'r1' }, { add: 'a4', activation: 'r4' }]);
    const fused = model.predict(x) as tf.Tensor;
    // The same ops where no backend has the one-pass kernel (here, cpu): the same bits.
    expect(Array.from(await fused.data())).toEqual(Array.from(await plain.data()));
    const training = model.apply(x, { training: true }) as tf.Tensor;
    expect(Array.from(await training.data())).toEqual(Array.from(await plain.data()));
    tf.dispose([fused, training]);
    folded.restore();
    expect(tf.memory().numTensors).toBe(before);
    for (const layer of model.layers) expect(Object.prototype.hasOwnProperty.call(layer, 'call'), layer.name).toBe(false);
    tf.dispose([x, plain]);
    model.dispose();
  });

  it('makes a ZeroPadding2D before a chain\'s valid convolution that convolution\'s padding: \'same\' where it pads the same, applied in the call where not', async () => {
    const input = tf.input({ shape: [8, 8, 4] });
    const chain = (x: tf.SymbolicTensor, conv: tf.layers.Layer, n: string, act: tf.layers.Layer) =>
      act.apply(tf.layers.batchNormalization({ name: `bn${n}` }).apply(conv.apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor) as tf.SymbolicTensor;
    // As Keras's MobileNetV2 pads before a strided depthwise convolution: the same as 'same' padding at 8 px.
    let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'p1' }).apply(input) as tf.SymbolicTensor;
    x = chain(x, tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', name: 'd1' }), '1', tf.layers.reLU({ maxValue: 6, name: 'r1' }));
    // As ResNet50's stem pads (3 each side, for 7x7 stride 2): 'same' would pad 2 and 3, so the call pads.
    let y = tf.layers.zeroPadding2d({ padding: 3, name: 'p2' }).apply(x) as tf.SymbolicTensor;
    y = chain(y, tf.layers.conv2d({ filters: 6, kernelSize: 7, strides: 2, padding: 'valid', name: 'c2' }), '2', tf.layers.reLU({ name: 'r2' }));
    // A padded tensor read by two layers: not folded.
    const p3 = tf.layers.zeroPadding2d({ padding: 1, name: 'p3' }).apply(y) as tf.SymbolicTensor;
    const z = chain(p3, tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'valid', name: 'c3' }), '3', tf.layers.reLU({ name: 'r3' }));
    const side = tf.layers.globalAveragePooling2d({}).apply(p3) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(z) as tf.SymbolicTensor;
    // Padding only below and right, more than 'same' would (it pads 0 and 1): a bigger output, padded in the call.
    let w = tf.layers.zeroPadding2d({ padding: [[0, 3], [0, 3]], name: 'p4' }).apply(input) as tf.SymbolicTensor;
    w = chain(w, tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', name: 'd4' }), '4', tf.layers.reLU({ name: 'r4' }));
    const flat = tf.layers.flatten().apply(w) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.concatenate({}).apply([pooled, side, flat]) as tf.SymbolicTensor });
    randomizeBatchNorms(model, 40);
    const xs = values([2, 8, 8, 4], 9);
    const plain = model.predict(xs) as tf.Tensor;
    const plainKernels = await kernelsOf(() => model.predict(xs) as tf.Tensor);
    const folded = foldBatchNorms(model);
    try {
      expect(folded.chains.map((c) => [c.conv, c.padding ?? null])).toEqual([['d1', 'p1'], ['c2', 'p2'], ['c3', null], ['d4', 'p4']]);
      const fused = model.predict(xs) as tf.Tensor;
      expect(worst((await fused.data()) as Float32Array, (await plain.data()) as Float32Array)).toBeLessThan(1e-5);
      fused.dispose();
      const fusedKernels = await kernelsOf(() => model.predict(xs) as tf.Tensor);
      // p1's pad is gone (the convolution pads as 'same'); p2's and p4's are applied in the call, p3's stays.
      expect(plainKernels.filter((k) => k === 'PadV2')).toHaveLength(4);
      expect(fusedKernels.filter((k) => k === 'PadV2')).toHaveLength(3);
    } finally {
      folded.restore();
    }
    for (const layer of model.layers) expect(Object.prototype.hasOwnProperty.call(layer, 'call'), layer.name).toBe(false);
    tf.dispose([xs, plain]);
    model.dispose();
  });

  it('folds again when the weights change, and leaves training calls alone', async () => {
    const model = chains(true);
    randomizeBatchNorms(model, 20);
    const x = values([2, 9, 9, 4], 2);
    const training = (await (model.apply(x, { training: true }) as tf.Tensor[])[0]!.data()) as Float32Array;
    const folded = foldBatchNorms(model);
    try {
      const first = (await (model.predict(x) as tf.Tensor[])[0]!.data()) as Float32Array;
      // A training call under the fold: batch statistics, as without it.
      expect(worst((await (model.apply(x, { training: true }) as tf.Tensor[])[0]!.data()) as Float32Array, training)).toBe(0);
      // New statistics (as a training step or loaded weights would give): the next prediction sees them.
      randomizeBatchNorms(model, 30);
      const second = (await (model.predict(x) as tf.Tensor[])[0]!.data()) as Float32Array;
      folded.restore();
      const plain = (await (model.predict(x) as tf.Tensor[])[0]!.data()) as Float32Array;
      expect(worst(second, plain)).toBeLessThan(1e-5);
      expect(worst(first, plain)).toBeGreaterThan(1e-2);
    } finally {
      folded.restore();
      tf.dispose(x);
      model.dispose();
    }
  });

  it('folds in the model it is given when layers are shared with another, and not a layer called twice in it', async () => {
    // As TL's frontier builds the part after a frozen prefix: the same layers applied to a new input.
    const conv = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'sc' });
    const bn = tf.layers.batchNormalization({ name: 'sbn' });
    const relu = tf.layers.reLU({ name: 'srelu' });
    const twice = tf.layers.conv2d({ filters: 6, kernelSize: 1, name: 'twice' });
    const twiceBn = tf.layers.batchNormalization({ name: 'twicebn' });
    const build = (name: string) => {
      const input = tf.input({ shape: [7, 7, 3] });
      const x = relu.apply(bn.apply(conv.apply(input))) as tf.SymbolicTensor;
      // `twice` is called twice in each model: one BatchNorm follows one call only.
      const y = twiceBn.apply(twice.apply(x)) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.add({}).apply([y, twice.apply(y) as tf.SymbolicTensor]) as tf.SymbolicTensor, name });
    };
    const first = build('first');
    const second = build('second');
    randomizeBatchNorms(first, 60);
    const x = values([2, 7, 7, 3], 4);
    for (const model of [first, second]) {
      const plain = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
      const folded = foldBatchNorms(model);
      try {
        expect(folded.chains).toEqual([{ conv: 'sc', batchNorm: 'sbn', activation: 'srelu' }]);
        expect(worst((await (model.predict(x) as tf.Tensor).data()) as Float32Array, plain)).toBeLessThan(1e-5);
      } finally {
        folded.restore();
      }
    }
    tf.dispose(x);
    first.dispose();
  });

  it.each([
    ['resnet50', 32],
    ['mobilenetv2', 32],
    ['inceptionv3', 75],
  ])('%s predicts the same folded, without a BatchNorm op', async (name, size) => {
    const model = await buildNetwork(name, size);
    randomizeBatchNorms(model, 40);
    const x = values([2, size, size, 3], 3);
    try {
      const plain = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
      const batchNorms = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length;
      const folded = foldBatchNorms(model);
      try {
        expect(folded.chains).toHaveLength(batchNorms);
        const fused = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
        expect(worst(fused, plain)).toBeLessThan(1e-4);
        expect(await kernelsOf(() => model.predict(x) as tf.Tensor)).not.toContain('FusedBatchNorm');
      } finally {
        folded.restore();
      }
    } finally {
      tf.dispose(x);
      model.dispose();
    }
  }, 120_000);
});

describe('marking BatchNorms to apply the activation after them in training', () => {
  it('has a convolution read the zero padding before it in training calls: the same losses and weights, no pad or slice', async () => {
    const plain = await trainPadded(false);
    const folded = await trainPadded(true);
    expect([plain.folded, folded.folded]).toEqual([0, 2]);
    expect(folded.losses).toEqual(plain.losses);
    folded.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(plain.weights[i]!)));
    // Two paddings forward; the gradient slices the second's (the first pads the input, which needs none).
    expect(plain.kernels.filter((k) => k === 'PadV2' || k === 'Slice')).toEqual(['PadV2', 'PadV2', 'Slice']);
    expect(folded.kernels.filter((k) => k === 'PadV2' || k === 'Slice')).toEqual([]);
    // restore put every call back: the model of a fresh run pads again.
    const model = paddedConvnet();
    const fused = fuseActivationsForTraining(model, { padsIntoConvolutions: true });
    fused.restore();
    for (const layer of model.layers) expect(Object.prototype.hasOwnProperty.call(layer, 'call'), layer.name).toBe(false);
    model.dispose();
  });

  it('marks each BatchNorm that only a ReLU or ReLU6 layer reads, and restore clears the marks', () => {
    const model = chains(true);
    const fused = fuseActivationsForTraining(model);
    try {
      expect(fused.pairs).toEqual([
        { batchNorm: 'bn1', activation: 'relu6' },
        { batchNorm: 'bn2', activation: 'act2' },
      ]);
      expect(activationAfter(model.getLayer('bn1'))).toBe('relu6');
      expect(activationAfter(model.getLayer('bn2'))).toBe('relu');
      // Read by an add, by a tanh, beside a shared conv, by a conv, and a model output.
      for (const name of ['bn3', 'bn4', 'bn5', 'bn6', 'bn7']) expect(activationAfter(model.getLayer(name)), name).toBeUndefined();
    } finally {
      fused.restore();
    }
    for (const name of ['bn1', 'bn2']) expect(activationAfter(model.getLayer(name))).toBeUndefined();
    model.dispose();
  });

  it('marks each Add that only a ReLU reads, and no other', () => {
    const input = tf.input({ shape: [4, 4, 3] });
    const conv = (name: string) => tf.layers.conv2d({ filters: 3, kernelSize: 1, name }).apply(input) as tf.SymbolicTensor;
    const sum = (name: string) => tf.layers.add({ name }).apply([input, conv(`${name}c`)]) as tf.SymbolicTensor;
    const relu = tf.layers.reLU({ name: 'r1' }).apply(sum('a1')) as tf.SymbolicTensor;
    const relu6 = tf.layers.reLU({ maxValue: 6, name: 'r2' }).apply(sum('a2')) as tf.SymbolicTensor;
    const act = tf.layers.activation({ activation: 'relu', name: 'r3' }).apply(sum('a3')) as tf.SymbolicTensor;
    const shared = sum('a4');
    const twice = tf.layers.add({ name: 'a4b' }).apply([tf.layers.reLU({ name: 'r4' }).apply(shared) as tf.SymbolicTensor, shared]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [relu, relu6, act, twice] });
    const fused = fuseActivationsForTraining(model);
    try {
      expect(fused.adds).toEqual([
        { add: 'a1', activation: 'r1' },
        { add: 'a3', activation: 'r3' },
      ]);
      expect(activationAfter(model.getLayer('a1'))).toBe('relu');
      // Read by a ReLU6 (whose output cannot tell where the sum was), beside another layer, and a model output.
      for (const name of ['a2', 'a4', 'a4b']) expect(activationAfter(model.getLayer(name)), name).toBeUndefined();
    } finally {
      fused.restore();
    }
    expect(activationAfter(model.getLayer('a1'))).toBeUndefined();
    model.dispose();
  });

  it('marks a BatchNorm shared with another model only where every model reads it through the same activation', () => {
    const bn = tf.layers.batchNormalization({ name: 'tbn' });
    const relu = tf.layers.reLU({ name: 'trelu' });
    const build = (name: string, alsoAdd: boolean) => {
      const input = tf.input({ shape: [5, 5, 3] });
      const y = bn.apply(input) as tf.SymbolicTensor;
      const out = relu.apply(y) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: alsoAdd ? (tf.layers.add({}).apply([out, y]) as tf.SymbolicTensor) : out, name });
    };
    const first = build('first', false);
    expect(fuseActivationsForTraining(first).pairs).toEqual([{ batchNorm: 'tbn', activation: 'trelu' }]);
    fuseActivationsForTraining(first).restore();
    // A second model reads the BatchNorm's output beside the ReLU: its layer is not marked in either.
    const second = build('second', true);
    expect(fuseActivationsForTraining(first).pairs).toEqual([]);
    expect(fuseActivationsForTraining(second).pairs).toEqual([]);
    expect(activationAfter(bn)).toBeUndefined();
    first.dispose();
    second.dispose();
  });
});
