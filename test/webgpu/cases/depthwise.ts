/**
 * Depthwise convolution gradient cases: through tf.grads for the training path (random shapes,
 * channel multipliers, every padding form), and the kernels called directly for dilation, which
 * tfjs's gradient refuses. The cpu kernels ignore dilation too, so the dilated reference is the
 * cpu gradient for the equivalent undilated filter (zeros between the taps), read at the taps.
 */
import * as tf from '@tensorflow/tfjs';
import { choose, pick, random, sameOnBoth, values, weightedSum, type ParityCase, type TestedBackend } from '../parity.ts';
import { randomPad, type Pad } from './conv2d.ts';

interface Depthwise { x: [number, number, number, number]; w: [number, number, number, number]; strides: [number, number]; pad: Pad }
type Filter = Depthwise['w'];

function nonEmpty(c: Depthwise): boolean {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad, undefined, true);
  return info.outHeight > 0 && info.outWidth > 0;
}

function randomDepthwise(count: number, seed: number): Depthwise[] {
  const next = random(seed);
  const out: Depthwise[] = [];
  while (out.length < count) {
    const ch = choose(next, [1, 2, 3, 8, 17, 32, 65]);
    const s = choose(next, [1, 1, 2]);
    const c: Depthwise = {
      x: [choose(next, [1, 1, 2, 3, 6]), pick(next, 1, 14), pick(next, 1, 14), ch],
      w: [choose(next, [1, 3, 3, 5]), choose(next, [1, 3, 3, 5]), ch, choose(next, [1, 1, 1, 2, 3])],
      strides: [s, s],
      pad: randomPad(next),
    };
    if (nonEmpty(c)) out.push(c);
  }
  return out;
}

const SHAPED: Depthwise[] = [
  // MobileNetV2-like: 3x3 stride 2 over many channels, batch 16 (rows chunked).
  { x: [16, 28, 28, 96], w: [3, 3, 96, 1], strides: [2, 2], pad: 'same' },
  { x: [8, 14, 14, 144], w: [3, 3, 144, 1], strides: [1, 1], pad: 'same' },
  // One filter a channel, channels not in fours: the scalar program (fours take the vec4 one).
  { x: [2, 7, 7, 6], w: [3, 3, 6, 1], strides: [1, 1], pad: 'same' },
  { x: [2, 9, 8, 10], w: [3, 3, 10, 1], strides: [2, 2], pad: 'valid' },
  // A long batch of small images: many rows, a few columns each.
  { x: [64, 6, 6, 5], w: [3, 3, 5, 2], strides: [1, 1], pad: 'valid' },
  // Channels in fours, all taps an invocation: odd sizes at stride 2 'valid', and a 1x3 filter
  // with other strides a side and padding on one side each way.
  { x: [3, 9, 11, 8], w: [3, 3, 8, 1], strides: [2, 2], pad: 'valid' },
  { x: [2, 6, 7, 12], w: [1, 3, 12, 1], strides: [1, 2], pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
  // More than 64 fours of channels: two workgroups across them.
  { x: [2, 5, 5, 264], w: [3, 3, 264, 1], strides: [1, 1], pad: 'same' },
];

const DILATED: { c: Depthwise; d: number }[] = [
  { c: { x: [2, 9, 9, 4], w: [3, 3, 4, 1], strides: [1, 1], pad: 'same' }, d: 2 },
  { c: { x: [1, 11, 7, 3], w: [3, 2, 3, 2], strides: [1, 1], pad: 'valid' }, d: 3 },
  { c: { x: [3, 10, 10, 8], w: [3, 3, 8, 1], strides: [1, 1], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] }, d: 2 },
  { c: { x: [2, 13, 12, 5], w: [2, 3, 5, 2], strides: [2, 2], pad: 'same' }, d: 2 },
];

const label = (c: Depthwise) => `x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`;

/** The undilated filter shape whose taps sit `d` apart. */
const spread = (w: Filter, d: number): Filter => [(w[0] - 1) * d + 1, (w[1] - 1) * d + 1, w[2], w[3]];

/** Offset, in a `[H, W, C, Q]` filter of width `width`, of tap (h, v). */
const tapAt = (h: number, v: number, width: number, inner: number) => (h * width + v) * inner;

/** Values of a filter with zeros inserted between the taps of `w`. */
function spreadValues(w: Filter, d: number, wv: Float32Array): Float32Array {
  const big = spread(w, d);
  const inner = w[2] * w[3];
  const out = new Float32Array(big.reduce((a, b) => a * b, 1));
  for (let h = 0; h < w[0]; h++) {
    for (let v = 0; v < w[1]; v++) out.set(wv.subarray(tapAt(h, v, w[1], inner), tapAt(h, v, w[1], inner) + inner), tapAt(h * d, v * d, big[1], inner));
  }
  return out;
}

/** The taps of a spread filter's values, back in `w`'s shape. */
function gatherTaps(w: Filter, d: number, bigValues: Float32Array): Float32Array {
  const big = spread(w, d);
  const inner = w[2] * w[3];
  const out = new Float32Array(w.reduce((a, b) => a * b, 1));
  for (let h = 0; h < w[0]; h++) {
    for (let v = 0; v < w[1]; v++) out.set(bigValues.subarray(tapAt(h * d, v * d, big[1], inner), tapAt(h * d, v * d, big[1], inner) + inner), tapAt(h, v, w[1], inner));
  }
  return out;
}

async function kernelOn(backend: TestedBackend | 'cpu', kernel: string, inputs: Record<string, [Float32Array, number[]]>, attrs: object): Promise<Float32Array> {
  await tf.setBackend(backend);
  const ts = Object.fromEntries(Object.entries(inputs).map(([k, [v, s]]) => [k, tf.tensor(v, s)]));
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  tf.dispose([out, ...Object.values(ts)]);
  return data;
}

function dilatedCase(c: Depthwise, d: number): ParityCase {
  return {
    name: `dilated ${d}, kernels called directly: ${label(c)}`,
    run: async (backend = 'webgpu') => {
      const dyShape = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, d, c.pad, undefined, true).outShape;
      const [xv, wv, dyv] = [values(c.x, 1), values(c.w, 2), values(dyShape, 3)];
      const attrs = { strides: c.strides, pad: c.pad, dilations: [d, d] };
      const undilated = { ...attrs, dilations: [1, 1] };
      const big = spread(c.w, d);
      const tested = [
        await kernelOn(backend, 'DepthwiseConv2dNativeBackpropInput', { dy: [dyv, dyShape], filter: [wv, c.w] }, { ...attrs, inputShape: c.x }),
        await kernelOn(backend, 'DepthwiseConv2dNativeBackpropFilter', { x: [xv, c.x], dy: [dyv, dyShape] }, { ...attrs, filterShape: c.w }),
      ];
      const cpu = [
        await kernelOn('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy: [dyv, dyShape], filter: [spreadValues(c.w, d, wv), big] }, { ...undilated, inputShape: c.x }),
        gatherTaps(c.w, d, await kernelOn('cpu', 'DepthwiseConv2dNativeBackpropFilter', { x: [xv, c.x], dy: [dyv, dyShape] }, { ...undilated, filterShape: big })),
      ];
      await tf.setBackend(backend);
      return { tested, cpu };
    },
  };
}

/**
 * Whether tfjs 4.22 gives the case its true output shape: for a numeric pad it sizes both output
 * dimensions by the filter's height (conv_util's computeOutputShape2D takes one field size). cpu
 * and webgpu compute into the shape it gives; wasm's forward kernel (XNNPACK) writes the true
 * output past the end of that buffer and corrupts the heap, so wasm runs only cases sized right.
 */
const sizedRight = (c: Depthwise) => typeof c.pad !== 'number' || c.w[0] === c.w[1];

/** The cases for the backend under test (all of them on webgpu; on wasm, those tfjs sizes right). */
export function depthwiseCases(backend: TestedBackend = 'webgpu'): ParityCase[] {
  const shapes = [...randomDepthwise(16, 77), ...SHAPED].filter((c) => backend === 'webgpu' || sizedRight(c));
  const grads = shapes.map((c) =>
    sameOnBoth(`dx, dw: ${label(c)}`, [c.x, c.w], (x, w) =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor) => weightedSum(tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad)))([x!, w!]),
    ),
  );
  return [...grads, ...DILATED.map(({ c, d }) => dilatedCase(c, d))];
}
