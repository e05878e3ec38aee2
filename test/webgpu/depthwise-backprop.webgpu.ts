/**
 * The depthwise convolution gradients against the cpu backend: through tf.grads for the training
 * path (random shapes, channel multipliers, every padding form), and by calling the kernels
 * directly for dilation, which tfjs's gradient refuses. The cpu kernels ignore dilation too, so
 * the dilated reference is the cpu gradient for the equivalent undilated filter (zeros inserted
 * between taps), keeping every `dilation`-th tap of it.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { choose, expectParity, pick, random, relativeError, RELATIVE_TOLERANCE, values, weightedSum } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case { x: [number, number, number, number]; w: [number, number, number, number]; strides: [number, number]; pad: Pad }

function nonEmpty(c: Case, dilation = 1): boolean {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, dilation, c.pad, undefined, true);
  return info.outHeight > 0 && info.outWidth > 0;
}

function randomCases(count: number, seed: number): Case[] {
  const next = random(seed);
  const cases: Case[] = [];
  while (cases.length < count) {
    const c = choose(next, [1, 2, 3, 8, 17, 32, 65]);
    const x: Case['x'] = [choose(next, [1, 1, 2, 3, 6]), pick(next, 1, 14), pick(next, 1, 14), c];
    const w: Case['w'] = [choose(next, [1, 3, 3, 5]), choose(next, [1, 3, 3, 5]), c, choose(next, [1, 1, 1, 2, 3])];
    const s = choose(next, [1, 1, 2]);
    const kind = choose(next, ['same', 'valid', 'number', 'explicit'] as const);
    const pad: Pad = kind === 'number' ? pick(next, 0, 2)
      : kind === 'explicit' ? [[0, 0], [pick(next, 0, 2), pick(next, 0, 2)], [pick(next, 0, 2), pick(next, 0, 2)], [0, 0]]
      : kind;
    const candidate: Case = { x, w, strides: [s, s], pad };
    if (nonEmpty(candidate)) cases.push(candidate);
  }
  return cases;
}

const SHAPED: Case[] = [
  // MobileNetV2-like: 3x3 stride 2 over many channels, batch 16 (rows chunked).
  { x: [16, 28, 28, 96], w: [3, 3, 96, 1], strides: [2, 2], pad: 'same' },
  { x: [8, 14, 14, 144], w: [3, 3, 144, 1], strides: [1, 1], pad: 'same' },
  // A long batch of small images: many rows, a few columns each.
  { x: [64, 6, 6, 5], w: [3, 3, 5, 2], strides: [1, 1], pad: 'valid' },
];

const name = (c: Case) => `x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`;

/** The undilated filter shape whose taps sit `d` apart. */
const spread = (w: Case['w'], d: number): Case['w'] => [(w[0] - 1) * d + 1, (w[1] - 1) * d + 1, w[2], w[3]];

/** Values of a filter with zeros inserted between the taps of `w`. */
function spreadValues(w: Case['w'], d: number, wv: Float32Array): Float32Array {
  const big = spread(w, d);
  const out = new Float32Array(big.reduce((a, b) => a * b, 1));
  const inner = w[2] * w[3];
  for (let h = 0; h < w[0]; h++) {
    for (let v = 0; v < w[1]; v++) {
      out.set(wv.subarray((h * w[1] + v) * inner, (h * w[1] + v + 1) * inner), (h * d * big[1] + v * d) * inner);
    }
  }
  return out;
}

async function kernelOn(backend: 'webgpu' | 'cpu', kernel: string, inputs: Record<string, [Float32Array, number[]]>, attrs: object): Promise<Float32Array> {
  await tf.setBackend(backend);
  const ts = Object.fromEntries(Object.entries(inputs).map(([k, [v, s]]) => [k, tf.tensor(v, s)]));
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  tf.dispose([out, ...Object.values(ts)]);
  return data;
}

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`depthwise conv2d gradients on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each([...randomCases(16, 77), ...SHAPED].map((c) => [name(c), c] as const))('dx and dw: %s', async (_, c) => {
    const worst = await expectParity([c.x, c.w], (x, w) =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor) => weightedSum(tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad)))([x!, w!]),
    );
    expect(worst).toBeLessThan(RELATIVE_TOLERANCE);
  });

  const dilated: { c: Case; d: number }[] = [
    { c: { x: [2, 9, 9, 4], w: [3, 3, 4, 1], strides: [1, 1], pad: 'same' }, d: 2 },
    { c: { x: [1, 11, 7, 3], w: [3, 2, 3, 2], strides: [1, 1], pad: 'valid' }, d: 3 },
    { c: { x: [3, 10, 10, 8], w: [3, 3, 8, 1], strides: [1, 1], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] }, d: 2 },
    { c: { x: [2, 13, 12, 5], w: [2, 3, 5, 2], strides: [2, 2], pad: 'same' }, d: 2 },
  ];
  it.each(dilated.map(({ c, d }) => [`${name(c)} dilation ${d}`, c, d] as const))('dilated, kernels called directly: %s', async (_, c, d) => {
    const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, d, c.pad, undefined, true);
    const dyShape = info.outShape;
    const xv = values(c.x, 1);
    const wv = values(c.w, 2);
    const dyv = values(dyShape, 3);
    const attrs = { strides: c.strides, pad: c.pad, dilations: [d, d] };
    const big = spread(c.w, d);
    // dx: the dilated filter on webgpu, the zero-spread filter undilated on cpu.
    const dxGpu = await kernelOn('webgpu', 'DepthwiseConv2dNativeBackpropInput', { dy: [dyv, dyShape], filter: [wv, c.w] }, { ...attrs, inputShape: c.x });
    const dxCpu = await kernelOn('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy: [dyv, dyShape], filter: [spreadValues(c.w, d, wv), big] }, { ...attrs, dilations: [1, 1], inputShape: c.x });
    expect(relativeError(dxGpu, dxCpu)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
    // dw: the cpu gradient of the spread filter, read at the real taps.
    const dwGpu = await kernelOn('webgpu', 'DepthwiseConv2dNativeBackpropFilter', { x: [xv, c.x], dy: [dyv, dyShape] }, { ...attrs, filterShape: c.w });
    const dwBig = await kernelOn('cpu', 'DepthwiseConv2dNativeBackpropFilter', { x: [xv, c.x], dy: [dyv, dyShape] }, { ...attrs, dilations: [1, 1], filterShape: big });
    const inner = c.w[2] * c.w[3];
    const dwCpu = new Float32Array(dwGpu.length);
    for (let h = 0; h < c.w[0]; h++) {
      for (let v = 0; v < c.w[1]; v++) dwCpu.set(dwBig.subarray((h * d * big[1] + v * d) * inner, (h * d * big[1] + v * d + 1) * inner), (h * c.w[1] + v) * inner);
    }
    expect(relativeError(dwGpu, dwCpu)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
    await tf.setBackend('webgpu');
  });
});
