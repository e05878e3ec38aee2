import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreKernel } from '../../src/executor/backends/registry.ts';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from '../../src/executor/backends/wasm-kernels.ts';
import { createRng } from '../../src/executor/augment/rng.ts';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
type Pair = number | [number, number];

/** The project's seeded PRNG: the same inputs on every run and on every backend. */
function random(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

function values(shape: readonly number[], seed: number): Float32Array {
  const next = random(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1);
}

async function use(backend: 'cpu' | 'wasm'): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  expect(tf.getBackend()).toBe(backend);
}

/** A scalar that weights every output differently, so the upstream gradient is not all ones. */
function weightedSum(y: tf.Tensor, seed = 99): tf.Scalar {
  return tf.sum(tf.mul(y, tf.tensor(values(y.shape, seed), y.shape)));
}

/** Gradients of `f` at fixed inputs on one backend; also checks that nothing is left allocated. */
async function gradsOn(backend: 'cpu' | 'wasm', f: (...xs: tf.Tensor[]) => tf.Scalar, shapes: number[][]): Promise<Float32Array[]> {
  await use(backend);
  const before = tf.memory().numTensors;
  const xs = shapes.map((s, i) => tf.tensor(values(s, 7 + i), s));
  const grads = tf.grads((...a: tf.Tensor[]) => f(...a))(xs);
  const out = grads.map((g) => g.dataSync() as Float32Array);
  tf.dispose([...xs, ...grads]);
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

/** Largest difference relative to the largest expected magnitude. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN)));
    scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  }
  return diff / Math.max(scale, 1e-6);
}

/** wasm gradients of `f` against cpu ones, input by input. */
async function compareWithCpu(f: (...xs: tf.Tensor[]) => tf.Scalar, shapes: number[][], tolerance = 1e-4): Promise<void> {
  const expected = await gradsOn('cpu', f, shapes);
  const actual = await gradsOn('wasm', f, shapes);
  actual.forEach((a, i) => expect(relativeError(a, expected[i] as Float32Array)).toBeLessThan(tolerance));
}

/** wasm gradients at given input values. */
async function wasmGradsAt(f: (...xs: tf.Tensor[]) => tf.Scalar, inputs: [number[], Float32Array][]): Promise<Float32Array[]> {
  await use('wasm');
  return tf.tidy(() => tf.grads((...a: tf.Tensor[]) => f(...a))(inputs.map(([s, v]) => tf.tensor(v, s))).map((g) => g.dataSync() as Float32Array));
}

/** Central differences of `f`, evaluated on the cpu backend. */
async function finiteDifferences(f: (x: tf.Tensor) => tf.Scalar, x: Float32Array, shape: number[], step = 1e-2): Promise<Float32Array> {
  await use('cpu');
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const at = (delta: number): number =>
      tf.tidy(() => {
        const moved = x.slice();
        moved[i] = (moved[i] ?? 0) + delta;
        return f(tf.tensor(moved, shape)).dataSync()[0] ?? NaN;
      });
    out[i] = (at(step) - at(-step)) / (2 * step);
  }
  return out;
}

/** The value of one registered kernel on a backend, for attributes the public ops refuse. */
async function kernelOn(backend: 'cpu' | 'wasm', name: string, inputs: Record<string, [number[], Float32Array]>, attrs: object): Promise<Float32Array> {
  await use(backend);
  const before = tf.memory().numTensors;
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, [s, v]]) => [k, tf.tensor(v, s)]));
  const out = tf.engine().runKernel(name, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const data = out.dataSync() as Float32Array;
  tf.dispose([out, ...Object.values(tensors)]);
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

beforeAll(async () => {
  await use('wasm');
  registerWasmTrainingKernels();
});

afterAll(async () => {
  await use('cpu');
});

describe('registration', () => {
  it('puts every kernel on the wasm backend, and a second call changes nothing', () => {
    registerWasmTrainingKernels();
    for (const [name, func] of Object.entries(WASM_TRAINING_KERNELS)) {
      expect(tf.getKernel(name, 'wasm').kernelFunc).toBe(func);
    }
  });
});

describe('Identity (replaced: the shipped one copies)', () => {
  const refCount = (t: tf.Tensor) => (tf.backend() as unknown as { refCount(id: object): number }).refCount(t.dataId);

  it('shares the input\'s memory, counted, and each holder keeps it until the last lets go', async () => {
    await use('wasm');
    const x = tf.tensor([1, 2, 3, 4, 5], [5]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    expect(refCount(x)).toBe(2);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5]);
    expect(refCount(y)).toBe(1);
    y.dispose();
    expect(refCount(y)).toBe(0);
    const words = tf.clone(tf.tensor(['a', 'bc']));
    expect(words.dataSync()).toEqual(['a', 'bc']);
  });

  it('never lets a training BatchNorm write into a moving average that a clone shares', async () => {
    await use('wasm');
    const layer = tf.layers.batchNormalization({ momentum: 0.5 });
    const x = tf.tensor4d(values([2, 3, 3, 4], 7), [2, 3, 3, 4]);
    layer.apply(x, { training: false });
    const mean = layer.getWeights()[2]!;
    const kept = tf.clone(mean);
    expect(kept.dataId).toBe(mean.dataId);
    const before = kept.dataSync().slice();
    tf.tidy(() => {
      layer.apply(x, { training: true });
    });
    expect(kept.dataSync()).toEqual(before);
    expect(layer.getWeights()[2]!.dataSync()).not.toEqual(before);
  });
});

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: Pair;
  pad: Pad;
  round?: 'floor' | 'round' | 'ceil';
}

const convCases: ConvCase[] = [
  { x: [1, 5, 5, 1], filter: [3, 3, 1, 2], strides: 1, pad: 'same' },
  { x: [3, 7, 6, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [3, 7, 7, 5], filter: [3, 3, 5, 2], strides: 2, pad: 'same' },
  { x: [1, 8, 8, 3], filter: [3, 3, 3, 3], strides: 2, pad: 'valid' },
  { x: [3, 9, 7, 3], filter: [5, 5, 3, 2], strides: 2, pad: 'same' },
  { x: [1, 6, 9, 5], filter: [2, 3, 5, 3], strides: [1, 2], pad: 'same' },
  { x: [3, 5, 5, 3], filter: [1, 1, 3, 4], strides: 1, pad: 'valid' },
  { x: [1, 7, 7, 3], filter: [1, 1, 3, 2], strides: 2, pad: 'same' },
  // 1x1 filters, whose input gradient multiplies before it spreads: even and odd sizes, a cropped
  // and a padded edge, unequal strides.
  { x: [2, 8, 8, 6], filter: [1, 1, 6, 5], strides: 2, pad: 'valid' },
  { x: [1, 9, 6, 4], filter: [1, 1, 4, 3], strides: [3, 2], pad: 'same' },
  { x: [2, 6, 6, 3], filter: [1, 1, 3, 4], strides: 2, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
  { x: [1, 5, 5, 3], filter: [1, 1, 3, 2], strides: 1, pad: 1 },
  // Not 1x1: one row, three columns.
  { x: [2, 6, 7, 3], filter: [1, 3, 3, 2], strides: 2, pad: 'same' },
  { x: [3, 6, 6, 1], filter: [3, 3, 1, 5], strides: 1, pad: 1 },
  { x: [1, 7, 5, 3], filter: [3, 3, 3, 2], strides: 2, pad: 2 },
  { x: [3, 7, 7, 3], filter: [3, 3, 3, 2], strides: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 5, 7, 5], filter: [2, 2, 5, 3], strides: 3, pad: 'valid' },
  { x: [3, 4, 4, 3], filter: [5, 5, 3, 3], strides: 1, pad: 'same' },
];

const label = (c: object): string => JSON.stringify(c).replace(/"/g, '');

describe('Conv2DBackpropFilter (and the replaced Conv2DBackpropInput)', () => {
  it.each(convCases.map((c) => [label(c), c] as const))('matches cpu: %s', async (_, c) => {
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      weightedSum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad, 'NHWC', 1, c.round));
    await compareWithCpu(f, [c.x, c.filter]);
  });

  it('matches cpu kernels for NCHW data', async () => {
    const [x, dy, w] = [[3, 3, 7, 6], [3, 4, 4, 3], [3, 3, 3, 4]];
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: w, inputShape: x };
    const byFilter = { x: [x, values(x, 1)], dy: [dy, values(dy, 2)] } as Record<string, [number[], Float32Array]>;
    const byInput = { dy: [dy, values(dy, 2)], filter: [w, values(w, 3)] } as Record<string, [number[], Float32Array]>;
    for (const [name, inputs] of [['Conv2DBackpropFilter', byFilter], ['Conv2DBackpropInput', byInput]] as const) {
      const expected = await kernelOn('cpu', name, inputs, attrs);
      expect(relativeError(await kernelOn('wasm', name, inputs, attrs), expected)).toBeLessThan(1e-4);
    }
  });

  // Cases tfjs-core's conv2d gradient cannot produce (it refuses dilations and drops the
  // rounding mode), checked on the kernel against finite differences of the cpu forward op.
  const beyondCore: (ConvCase & { dilations: Pair })[] = [
    { x: [1, 6, 6, 2], filter: [3, 3, 2, 2], strides: 1, pad: 'same', dilations: 2 },
    { x: [2, 9, 8, 1], filter: [3, 2, 1, 3], strides: 1, pad: 'valid', dilations: 2 },
    { x: [1, 7, 7, 3], filter: [2, 2, 3, 2], strides: 1, pad: 'valid', dilations: [2, 3] },
    { x: [1, 8, 8, 3], filter: [3, 3, 3, 2], strides: 2, pad: 1, round: 'ceil', dilations: 1 },
  ];
  it.each(beyondCore.map((c) => [label(c), c] as const))('matches finite differences: %s', async (_, c) => {
    await use('cpu');
    const xs = values(c.x, 11);
    const forward = (x: tf.Tensor, filter: tf.Tensor): tf.Tensor4D =>
      tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations, c.round);
    const dyShape = tf.tidy(() => forward(tf.zeros(c.x), tf.zeros(c.filter)).shape);
    const dy = values(dyShape, 12);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilations, dimRoundingMode: c.round, filterShape: c.filter };
    const actual = await kernelOn('wasm', 'Conv2DBackpropFilter', { x: [c.x, xs], dy: [dyShape, dy] }, attrs);
    const f = (filter: tf.Tensor): tf.Scalar => tf.sum(tf.mul(forward(tf.tensor4d(xs, c.x), filter), tf.tensor(dy, dyShape)));
    // Linear in the filter: central differences with a large step are exact up to rounding.
    expect(relativeError(actual, await finiteDifferences(f, values(c.filter, 13), c.filter, 0.5))).toBeLessThan(1e-3);
  });
});

interface DepthwiseCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: Pair;
  pad: Pad;
  dilations: Pair;
}

const depthwiseCases: DepthwiseCase[] = [
  { x: [1, 5, 5, 1], filter: [3, 3, 1, 1], strides: 1, pad: 'same', dilations: 1 },
  { x: [3, 7, 7, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'valid', dilations: 1 },
  { x: [3, 7, 6, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'same', dilations: 1 },
  { x: [1, 8, 8, 5], filter: [3, 3, 5, 1], strides: 2, pad: 'valid', dilations: 1 },
  { x: [1, 9, 9, 3], filter: [3, 3, 3, 2], strides: 1, pad: 'same', dilations: 2 },
  { x: [3, 9, 8, 5], filter: [3, 3, 5, 1], strides: 1, pad: 'valid', dilations: 2 },
  { x: [1, 7, 9, 3], filter: [5, 3, 3, 2], strides: [2, 1], pad: 'same', dilations: 1 },
  { x: [3, 6, 6, 1], filter: [2, 2, 1, 3], strides: 1, pad: 'same', dilations: 1 },
  { x: [1, 7, 7, 5], filter: [3, 3, 5, 2], strides: 2, pad: 1, dilations: 1 },
  { x: [3, 5, 5, 3], filter: [1, 1, 3, 2], strides: 1, pad: 'valid', dilations: 1 },
  { x: [1, 9, 7, 3], filter: [3, 3, 3, 1], strides: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]], dilations: [1, 2] },
  { x: [3, 8, 8, 3], filter: [3, 3, 3, 1], strides: 3, pad: 'same', dilations: 1 },
  { x: [1, 11, 11, 5], filter: [3, 3, 5, 2], strides: 1, pad: 'same', dilations: 3 },
  { x: [3, 5, 6, 3], filter: [2, 2, 3, 2], strides: 2, pad: [[0, 0], [3, 2], [2, 3], [0, 0]], dilations: 1 },
  // Channels past one SIMD vector, with one left over.
  { x: [2, 6, 7, 13], filter: [3, 3, 13, 1], strides: 2, pad: 'same', dilations: 1 },
];

describe('DepthwiseConv2dNativeBackpropFilter and BackpropInput', () => {
  /** Both backprop kernels on one backend, with an upstream gradient shaped like the forward output. */
  async function depthwiseKernels(backend: 'cpu' | 'wasm', c: DepthwiseCase): Promise<[Float32Array, Float32Array]> {
    const dyShape = await depthwiseOutShape(c);
    const dy: [number[], Float32Array] = [dyShape, values(dyShape, 2)];
    const x: [number[], Float32Array] = [c.x, values(c.x, 1)];
    const filter: [number[], Float32Array] = [c.filter, values(c.filter, 3)];
    const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations, filterShape: c.filter, inputShape: c.x };
    return [
      await kernelOn(backend, 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs),
      await kernelOn(backend, 'DepthwiseConv2dNativeBackpropInput', { dy, filter }, attrs),
    ];
  }

  async function depthwiseOutShape(c: DepthwiseCase): Promise<number[]> {
    await use('cpu');
    return tf.tidy(() => tf.depthwiseConv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations).shape);
  }

  const undilated = depthwiseCases.filter((c) => c.dilations === 1);
  const dilatedCases = depthwiseCases.filter((c) => c.dilations !== 1);

  it.each(undilated.map((c) => [label(c), c] as const))('matches the cpu kernels: %s', async (_, c) => {
    const expected = await depthwiseKernels('cpu', c);
    const actual = await depthwiseKernels('wasm', c);
    actual.forEach((a, i) => expect(relativeError(a, expected[i] as Float32Array)).toBeLessThan(1e-4));
  });

  // The cpu backprop kernels ignore dilations (tfjs-core's gradient never asks for them), so
  // dilated cases are checked against finite differences of the cpu forward op, which honours them.
  it.each(dilatedCases.map((c) => [label(c), c] as const))('matches finite differences with dilation: %s', async (_, c) => {
    const [dw, dx] = await depthwiseKernels('wasm', c);
    const dyShape = await depthwiseOutShape(c);
    const [xs, dy, ws] = [values(c.x, 1), values(dyShape, 2), values(c.filter, 3)];
    const f = (x: tf.Tensor, w: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations), tf.tensor(dy, dyShape)));
    // Linear in each argument: a large step is exact up to rounding.
    expect(relativeError(dw, await finiteDifferences((w) => f(tf.tensor(xs, c.x), w), ws, c.filter, 0.5))).toBeLessThan(1e-3);
    expect(relativeError(dx, await finiteDifferences((x) => f(x, tf.tensor(ws, c.filter)), xs, c.x, 0.5))).toBeLessThan(1e-3);
  });

  // tfjs-core's depthwise gradient refuses dilations, so only the undilated cases go through it.
  it.each(undilated.map((c) => [label(c), c] as const))('matches cpu through tf.grads: %s', async (_, c) => {
    const f = (x: tf.Tensor, w: tf.Tensor) => weightedSum(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad));
    await compareWithCpu(f, [c.x, c.filter]);
  });

  it('matches finite differences, filter and input', async () => {
    const [xShape, wShape] = [[2, 6, 5, 2], [3, 3, 2, 2]];
    const [xs, ws] = [values(xShape, 21), values(wShape, 22)];
    const conv = (x: tf.Tensor, w: tf.Tensor) => weightedSum(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'));
    const [dx, dw] = await wasmGradsAt(conv, [[xShape, xs], [wShape, ws]]);
    // The convolution is linear in each argument, so a large step is exact up to rounding.
    const fx = await finiteDifferences((x) => conv(x, tf.tensor(ws, wShape)), xs, xShape, 0.5);
    const fw = await finiteDifferences((w) => conv(tf.tensor(xs, xShape), w), ws, wShape, 0.5);
    expect(relativeError(dx as Float32Array, fx)).toBeLessThan(2e-3);
    expect(relativeError(dw as Float32Array, fw)).toBeLessThan(2e-3);
  });
});

interface PoolCase {
  x: [number, number, number, number];
  size: Pair;
  strides: Pair;
  pad: Pad;
}

const poolCases: PoolCase[] = [
  { x: [1, 8, 8, 3], size: 2, strides: 2, pad: 'valid' },
  { x: [3, 8, 8, 5], size: 2, strides: 2, pad: 'same' },
  { x: [1, 5, 5, 1], size: 2, strides: 2, pad: 'valid' },
  { x: [3, 7, 7, 3], size: 3, strides: 2, pad: 'same' },
  { x: [1, 7, 9, 3], size: 3, strides: 1, pad: 'same' },
  { x: [3, 9, 7, 1], size: 3, strides: 2, pad: 'valid' },
  { x: [1, 6, 6, 5], size: [2, 3], strides: [1, 2], pad: 'same' },
  { x: [3, 8, 8, 3], size: 3, strides: 3, pad: 'same' },
  { x: [1, 9, 9, 3], size: 2, strides: 3, pad: 'valid' },
  { x: [3, 5, 7, 3], size: 3, strides: 1, pad: 'valid' },
  { x: [1, 4, 4, 5], size: 4, strides: 1, pad: 'same' },
  { x: [3, 7, 7, 1], size: 2, strides: 1, pad: 1 },
  // Channels past one SIMD vector, with one left over; ResNet50's stem pool.
  { x: [2, 9, 8, 13], size: 3, strides: 2, pad: 'same' },
  { x: [1, 12, 12, 8], size: 3, strides: 2, pad: 'valid' },
];

describe('MaxPoolGrad', () => {
  it.each(poolCases.map((c) => [label(c), c] as const))('matches cpu: %s', async (_, c) => {
    await compareWithCpu((x) => weightedSum(tf.maxPool(x as tf.Tensor4D, c.size, c.strides, c.pad)), [c.x]);
  });

  it('matches cpu where windows tie or hold only negative values (after relu, after batch norm)', async () => {
    await compareWithCpu((x) => weightedSum(tf.maxPool(tf.relu(x) as tf.Tensor4D, 2, 2, 'same')), [[3, 7, 7, 3]]);
    await compareWithCpu((x) => weightedSum(tf.maxPool(tf.sub(x, 2) as tf.Tensor4D, 3, 2, 'same')), [[3, 7, 7, 3]]);
    await compareWithCpu((x) => weightedSum(tf.maxPool(tf.relu(x) as tf.Tensor4D, 3, 1, 'same')), [[2, 6, 6, 9]]);
  });

  it('routes to the first of tied maxima, as cpu does, in the kernel itself', async () => {
    // Values in {-1, 0, 1}: most windows tie; the kernel's output shows which tap got dy.
    const shape = [2, 6, 7, 9];
    const next = random(5);
    const input = Float32Array.from({ length: 2 * 6 * 7 * 9 }, () => Math.floor(next() * 3) - 1);
    for (const [size, strides, pad] of [[3, 1, 'same'], [2, 2, 'valid'], [3, 2, 'same']] as const) {
      const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], size, strides, 1, pad);
      const dyShape = [2, info.outHeight, info.outWidth, 9];
      const dy = values(dyShape, 6);
      const attrs = { filterSize: size, strides, pad };
      const inputs = { dy: [dyShape, dy] as [number[], Float32Array], input: [shape, input] as [number[], Float32Array] };
      // Overlapping windows add several dy into one dx, in another order than cpu's: equal to rounding.
      expect(relativeError(await kernelOn('wasm', 'MaxPoolGrad', inputs, attrs), await kernelOn('cpu', 'MaxPoolGrad', inputs, attrs))).toBeLessThan(1e-6);
    }
  });

  it('drops the gradient of a window with no maximum (all NaN or -Infinity), as cpu does', async () => {
    const shape = [1, 4, 4, 5];
    const input = values(shape, 8).map((v, i) => (i < 2 * 4 * 5 ? (i % 2 === 0 ? NaN : -Infinity) : v));
    const dyShape = [1, 2, 2, 5];
    const inputs = { dy: [dyShape, values(dyShape, 9)] as [number[], Float32Array], input: [shape, input] as [number[], Float32Array] };
    const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
    const ours = await kernelOn('wasm', 'MaxPoolGrad', inputs, attrs);
    expect(ours).toEqual(await kernelOn('cpu', 'MaxPoolGrad', inputs, attrs));
    // The top two rows' windows have no maximum: their dy goes nowhere.
    expect(ours.slice(0, 2 * 4 * 5).every((v) => v === 0)).toBe(true);
  });

  it('is right where the shipped wasm kernel was wrong (channels > 1, 8x8 input)', async () => {
    const shape = [2, 8, 8, 3];
    // Distinct values 0.01 apart, two thirds negative: finite differences never flip a maximum.
    const next = random(31);
    const order = Array.from({ length: 384 }, (_, i) => i).sort(() => next() - 0.5);
    const xs = Float32Array.from(order, (i) => i * 0.01 - 2.5);
    const pool = (x: tf.Tensor) => weightedSum(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'));
    const expected = await finiteDifferences(pool, xs, shape, 1e-3);
    const [ours] = await wasmGradsAt(pool, [[shape, xs]]);
    expect(relativeError(ours as Float32Array, expected)).toBeLessThan(2e-3);
    // The kernel tfjs-backend-wasm 4.22 ships, on the same case. If this fails, tfjs fixed it.
    expect(relativeError(await shippedMaxPoolGrad(pool, xs, shape), expected)).toBeGreaterThan(0.1);
  });
});

/** Runs the MaxPoolGrad kernel that tfjs-backend-wasm registered (the registry keeps what TL's replaced). */
async function shippedMaxPoolGrad(pool: (x: tf.Tensor) => tf.Scalar, xs: Float32Array, shape: number[]): Promise<Float32Array> {
  await use('wasm');
  restoreKernel('MaxPoolGrad', 'wasm');
  try {
    const [g] = await wasmGradsAt(pool, [[shape, xs]]);
    return g as Float32Array;
  } finally {
    registerWasmTrainingKernels();
  }
}

describe('AvgPoolGrad', () => {
  it.each(poolCases.filter((c) => c.pad === 'valid').map((c) => [label(c), c] as const))('matches cpu with valid padding: %s', async (_, c) => {
    await compareWithCpu((x) => weightedSum(tf.avgPool(x as tf.Tensor4D, c.size, c.strides, c.pad)), [c.x]);
  });

  it.each(poolCases.map((c) => [label(c), c] as const))('matches finite differences of the forward op: %s', async (_, c) => {
    const xs = values(c.x, 41);
    const pool = (x: tf.Tensor) => weightedSum(tf.avgPool(x as tf.Tensor4D, c.size, c.strides, c.pad));
    const [ours] = await wasmGradsAt(pool, [[c.x, xs]]);
    // avg pooling is linear, so central differences are exact up to float32 rounding.
    expect(relativeError(ours as Float32Array, await finiteDifferences(pool, xs, c.x, 0.5))).toBeLessThan(1e-3);
  });
});

describe('UnsortedSegmentSum', () => {
  const cases: { x: number[]; ids: number[]; segments: number; idShape?: number[]; dtype?: 'int32' }[] = [
    { x: [6], ids: [0, 1, 0, 2, 2, 1], segments: 3 },
    { x: [6, 4], ids: [0, 2, 1, 0, 2, 2], segments: 3 },
    { x: [5, 3], ids: [4, 4, 4, 4, 4], segments: 6 },
    { x: [5, 2, 3], ids: [1, 0, 1, 0, 1], segments: 2 },
    { x: [4, 3], ids: [0, -1, 3, 7], segments: 4 },
    { x: [2, 3, 4], ids: [0, 1, 2, 2, 1, 0], idShape: [2, 3], segments: 3 },
    { x: [7, 5], ids: [6, 5, 4, 3, 2, 1, 0], segments: 7 },
    { x: [8, 1], ids: [0, 0, 0, 0, 0, 0, 0, 0], segments: 1 },
    { x: [3, 4], ids: [2, 0, 2], segments: 5 },
    { x: [6, 2], ids: [1, 1, 0, 0, 3, 3], segments: 4, dtype: 'int32' },
    { x: [9, 3], ids: [0, 1, 2, 0, 1, 2, 0, 1, 2], segments: 3 },
    { x: [4, 2, 2], ids: [0, 1, 1, 0], idShape: [4], segments: 2, dtype: 'int32' },
  ];
  it.each(cases.map((c) => [label(c), c] as const))('matches a plain loop, and cpu where it takes the ids: %s', async (_, c) => {
    const raw = values(c.x, 51).map((v) => (c.dtype === 'int32' ? Math.round(v * 10) : v));
    const run = async (backend: 'cpu' | 'wasm') => {
      await use(backend);
      const before = tf.memory().numTensors;
      const x = tf.tensor(raw, c.x, c.dtype ?? 'float32');
      // The op is typed for 1-D ids but takes ids of any leading shape of x, like TensorFlow.
      const ids = tf.tensor(c.ids, c.idShape ?? [c.ids.length], 'int32') as unknown as tf.Tensor1D;
      const out = tf.unsortedSegmentSum(x, ids, c.segments);
      const data = Float32Array.from(out.dataSync());
      tf.dispose([x, ids, out]);
      expect(tf.memory().numTensors).toBe(before);
      return data;
    };
    const width = raw.length / c.ids.length;
    const expected = new Float32Array(c.segments * width);
    c.ids.forEach((id, row) => {
      if (id < 0 || id >= c.segments) return;
      for (let j = 0; j < width; j++) expected[id * width + j] = (expected[id * width + j] ?? 0) + (raw[row * width + j] ?? 0);
    });
    const actual = await run('wasm');
    expect(relativeError(actual, expected)).toBeLessThan(1e-5);
    // The cpu kernel mishandles ids of rank > 1 (it broadcasts them against the wrong axes).
    if (c.idShape === undefined || c.idShape.length === 1) expect(relativeError(actual, await run('cpu'))).toBeLessThan(1e-5);
  });

  it('gives gather its gradient', async () => {
    await compareWithCpu((x) => weightedSum(tf.gather(x, tf.tensor1d([3, 0, 3, 1, 4], 'int32'))), [[5, 3]]);
  });
});

describe('filter gradients of large batches', () => {
  // 3 x 64 channels x 9 taps x 100 x 100 positions is 17.3M patch values, over the 16M-element
  // budget, so Conv2DBackpropFilter cuts the batch in two and adds the parts' gradients (the
  // depthwise gradient loops over the batch without patches: the same sum, at a size where an
  // offset wrong by an example would show). The reference is the sum of the per-example gradients.
  it.each(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'] as const)('%s equals the sum over examples when the batch is split', async (name) => {
    const filterShape = name === 'Conv2DBackpropFilter' ? [3, 3, 64, 2] : [3, 3, 64, 1];
    const [x, dy] = [[3, 100, 100, 64], [3, 100, 100, name === 'Conv2DBackpropFilter' ? 2 : 64]];
    const [xs, dys] = [values(x, 101), values(dy, 102)];
    const attrs = { strides: 1, pad: 'same', dilations: 1, dataFormat: 'NHWC', filterShape };
    const whole = await kernelOn('wasm', name, { x: [x, xs], dy: [dy, dys] }, attrs);
    const summed = new Float32Array(whole.length);
    const [xStep, dyStep] = [xs.length / 3, dys.length / 3];
    for (let n = 0; n < 3; n++) {
      const one = await kernelOn('wasm', name, { x: [[1, ...x.slice(1)], xs.subarray(n * xStep, (n + 1) * xStep)], dy: [[1, ...dy.slice(1)], dys.subarray(n * dyStep, (n + 1) * dyStep)] }, attrs);
      one.forEach((v, i) => (summed[i] = (summed[i] ?? 0) + v));
    }
    expect(relativeError(whole, summed)).toBeLessThan(1e-4);
  });
});

describe('Tile (replaced: the shipped one is a scalar loop that dominated batch-norm gradients)', () => {
  const cases: { shape: number[]; reps: number[]; dtype?: 'int32' | 'bool' }[] = [
    { shape: [3], reps: [2] },
    { shape: [2, 3], reps: [1, 1] },
    { shape: [2, 3], reps: [3, 1] },
    { shape: [2, 3], reps: [1, 4] },
    { shape: [2, 1, 3], reps: [2, 3, 2] },
    { shape: [1, 1, 1, 5], reps: [3, 4, 5, 1] },
    { shape: [2, 3, 4, 5], reps: [2, 2, 2, 2] },
    { shape: [2, 3, 1, 2, 3], reps: [2, 1, 2, 3, 2] },
    { shape: [2, 2, 2, 2, 2, 2], reps: [2, 1, 2, 1, 2, 1] },
    { shape: [3, 2], reps: [2, 3], dtype: 'int32' },
    { shape: [2, 2], reps: [2, 1], dtype: 'bool' },
    { shape: [0, 3], reps: [2, 1] },
    { shape: [1], reps: [1] },
  ];
  it.each(cases.map((c) => [label(c), c] as const))('matches cpu: %s', async (_, c) => {
    const run = async (backend: 'cpu' | 'wasm') => {
      await use(backend);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => {
        const raw = values(c.shape, 91).map((v) => (c.dtype === undefined ? v : c.dtype === 'int32' ? Math.round(v * 100) : v > 0 ? 1 : 0));
        const t = tf.tile(tf.tensor(raw, c.shape, c.dtype ?? 'float32'), c.reps);
        return { shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) };
      });
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    expect(await run('wasm')).toEqual(await run('cpu'));
  });
});

describe('Slice and Reverse (replaced: the shipped ones copy element by element or row by row)', () => {
  type DType = 'float32' | 'int32' | 'bool';
  /** The same computation on cpu and on wasm: shape, dtype and values, with no tensor left behind. */
  async function sameOnCpu(shape: number[], dtype: DType, f: (x: tf.Tensor) => tf.Tensor): Promise<void> {
    const run = async (backend: 'cpu' | 'wasm') => {
      await use(backend);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => {
        const raw = values(shape, 17).map((v) => (dtype === 'float32' ? v : dtype === 'int32' ? Math.round(v * 1000) : v > 0 ? 1 : 0));
        const t = f(tf.tensor(raw, shape, dtype));
        return { shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) };
      });
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    expect(await run('wasm')).toEqual(await run('cpu'));
  }

  const sliceCases: { shape: number[]; begin: number[]; size: number[]; dtype?: DType }[] = [
    // ZeroPadding2D's gradient in MobileNetV2: crop one row and column.
    { shape: [4, 9, 9, 6], begin: [0, 1, 1, 0], size: [4, 8, 8, 6] },
    { shape: [4, 9, 9, 6], begin: [0, 0, 0, 0], size: [4, 8, 8, 6] },
    { shape: [3, 5, 7, 2], begin: [1, 2, 3, 1], size: [2, 2, 3, 1] },
    { shape: [6, 5], begin: [2, 0], size: [3, 5] },
    { shape: [6, 5], begin: [0, 1], size: [-1, 3] },
    { shape: [10], begin: [3], size: [4] },
    { shape: [2, 3, 4, 5, 6], begin: [1, 0, 1, 2, 0], size: [1, 3, 2, 3, 6], dtype: 'int32' },
    { shape: [2, 3, 2, 2, 3, 2], begin: [0, 1, 0, 1, 1, 0], size: [2, 2, 2, 1, 2, 1] },
    { shape: [4, 6], begin: [1, 2], size: [2, 3], dtype: 'bool' },
    { shape: [4, 6], begin: [1, 2], size: [0, 3] },
  ];
  it.each(sliceCases.map((c) => [`${c.shape.join('x')} from ${c.begin.join(',')} size ${c.size.join(',')} ${c.dtype ?? 'float32'}`, c] as const))('Slice matches cpu: %s', async (_, c) => {
    await sameOnCpu(c.shape, c.dtype ?? 'float32', (x) => tf.slice(x, c.begin, c.size));
  });

  const reverseCases: { shape: number[]; axes: number[]; dtype?: DType }[] = [
    // The convolutions' input gradients flip a filter's taps.
    { shape: [3, 3, 4, 5], axes: [0, 1] },
    { shape: [1, 1, 6, 4], axes: [0, 1] },
    { shape: [3, 1, 4, 5], axes: [0, 1] },
    { shape: [3, 3, 4, 5], axes: [3] },
    { shape: [3, 3, 4, 5], axes: [1, 3], dtype: 'int32' },
    { shape: [3, 3, 4, 5], axes: [0, 1, 2, 3] },
    { shape: [2, 3, 4, 5], axes: [-2] },
    { shape: [7], axes: [0], dtype: 'bool' },
    { shape: [2, 3, 2, 3, 2], axes: [0, 2, 4] },
    { shape: [4, 5], axes: [] },
    { shape: [0, 5], axes: [1] },
  ];
  it.each(reverseCases.map((c) => [`${c.shape.join('x')} axes ${c.axes.join(',') || 'none'} ${c.dtype ?? 'float32'}`, c] as const))('Reverse matches cpu: %s', async (_, c) => {
    await sameOnCpu(c.shape, c.dtype ?? 'float32', (x) => tf.reverse(x, c.axes));
  });

  it('hands a slice of strings to the shipped kernel', async () => {
    await use('wasm');
    const words = tf.tensor([['a', 'b', 'c'], ['d', 'e', 'f']]);
    const part = tf.slice(words, [0, 1], [2, 2]);
    expect(part.arraySync()).toEqual([['b', 'c'], ['e', 'f']]);
    tf.dispose([words, part]);
  });
});

/**
 * A small CNN with every layer kind the executor's networks use: conv + batch norm + relu6, max
 * pool, depthwise conv with multiplier 2, 1x1 conv, avg pool with zero padding, concat, strided
 * conv, dropout (a fixed mask), global average pooling, dense, softmax cross-entropy.
 */
const cnnShapes = {
  conv1: [3, 3, 3, 8],
  gamma1: [8],
  beta1: [8],
  depthwise: [3, 3, 8, 2],
  gamma2: [16],
  beta2: [16],
  pointwise: [1, 1, 16, 8],
  conv2: [3, 3, 24, 16],
  dense: [16, 4],
  bias: [4],
} as const;
const cnnInput = [8, 16, 16, 3];

function batchNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3) as tf.Tensor4D;
}

function cnnLoss(p: Record<keyof typeof cnnShapes, tf.Tensor>, x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  let h = tf.relu6(batchNorm(tf.conv2d(x, p.conv1 as tf.Tensor4D, 1, 'same'), p.gamma1, p.beta1));
  h = tf.maxPool(h, 2, 2, 'same');
  h = tf.relu6(batchNorm(tf.depthwiseConv2d(h, p.depthwise as tf.Tensor4D, 1, 'same'), p.gamma2, p.beta2));
  const branch = tf.pad(tf.avgPool(h, 3, 1, 'valid'), [[0, 0], [1, 1], [1, 1], [0, 0]]);
  h = tf.concat([tf.conv2d(h, p.pointwise as tf.Tensor4D, 1, 'valid'), branch], 3);
  h = tf.relu(tf.conv2d(h, p.conv2 as tf.Tensor4D, 2, 'same'));
  h = tf.mul(h, tf.tensor(values(h.shape, 5).map((v) => (v > -0.6 ? 1 / 0.8 : 0)), h.shape));
  const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, p.dense as tf.Tensor2D), p.bias);
  return tf.losses.softmaxCrossEntropy(labels, logits);
}

const cnnLabels = (): tf.Tensor2D => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 3, 2, 1, 0], 'int32'), 4).toFloat() as tf.Tensor2D;
const cnnNames = Object.keys(cnnShapes) as (keyof typeof cnnShapes)[];

describe('a small CNN on wasm', () => {
  it('has the same gradients as on cpu', async () => {
    const shapes = [...cnnNames.map((k) => [...cnnShapes[k]]), cnnInput];
    const f = (...xs: tf.Tensor[]) => {
      const params = Object.fromEntries(cnnNames.map((k, i) => [k, xs[i] as tf.Tensor])) as Record<keyof typeof cnnShapes, tf.Tensor>;
      return cnnLoss(params, xs[cnnNames.length] as tf.Tensor4D, cnnLabels());
    };
    await compareWithCpu(f, shapes, 1e-3);
  });

  it('trains with tf.variableGrads: the loss falls over 20 steps and the tensor count holds', async () => {
    await use('wasm');
    const x = tf.tensor4d(values(cnnInput, 61), cnnInput as [number, number, number, number]);
    const labels = cnnLabels();
    const params = Object.fromEntries(
      cnnNames.map((k, i) => {
        const shape = [...cnnShapes[k]];
        const init = k.startsWith('gamma') ? tf.ones(shape) : k.startsWith('beta') || k === 'bias' ? tf.zeros(shape) : tf.tensor(values(shape, 70 + i), shape).mul(0.5);
        return [k, tf.variable(init)];
      }),
    ) as Record<keyof typeof cnnShapes, tf.Variable>;
    const optimizer: tf.Optimizer = tf.train.adam(0.01);
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 20; step++) {
      const { value, grads } = tf.variableGrads(() => cnnLoss(params, x, labels));
      optimizer.applyGradients(grads);
      losses.push((await value.data())[0] ?? NaN);
      tf.dispose([value, ...Object.values(grads)]);
      counts.push(tf.memory().numTensors);
    }
    // Adam makes its two moment variables per parameter on the first step, and TL's fused update
    // its learning rate as a tensor (fused-optimizers.ts); nothing else may stay.
    expect(counts).toEqual(counts.map(() => before + 2 * cnnNames.length + 1));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[19]).toBeLessThan((losses[0] ?? 0) * 0.5);
    optimizer.dispose();
    tf.dispose([x, labels, ...Object.values(params)]);
  });

  it('trains as a tf.layers model (fused conv, BatchNormalization, DepthwiseConv2D, pooling layers)', async () => {
    await use('wasm');
    const input = tf.input({ shape: [12, 12, 3] });
    let h = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = tf.layers.reLU({ maxValue: 6 }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
    h = tf.layers.dropout({ rate: 0.1 }).apply(h) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    model.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
    const x = tf.tensor4d(values([8, 12, 12, 3], 81), [8, 12, 12, 3]);
    const y = cnnLabels();
    const loss = () => tf.tidy(() => (model.evaluate(x, y) as tf.Scalar).dataSync()[0] ?? NaN);
    const before = loss();
    const counts: number[] = [];
    for (let step = 0; step < 20; step++) {
      await model.trainOnBatch(x, y);
      counts.push(tf.memory().numTensors);
    }
    // The optimizer's slots appear on the first step; after that the count must hold.
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(loss()).toBeLessThan(before * 0.8);
    model.dispose();
    tf.dispose([x, y]);
  });
});
