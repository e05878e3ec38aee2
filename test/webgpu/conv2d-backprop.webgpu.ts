/**
 * Conv2DBackpropFilter and Conv2DBackpropInput (implicit GEMM) against the cpu backend: random
 * shapes (odd sizes, batch 1 and many, non-square filters and strides, every padding form), plus
 * shapes that make the GEMM split K into slices and sum the slices in more than one pass.
 * tfjs allows no dilation in these gradients, so none is tested.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { choose, expectParity, pick, random, weightedSum } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case { x: [number, number, number, number]; w: [number, number, number, number]; strides: [number, number]; pad: Pad }

/** Whether tfjs gives this convolution a non-empty output (it sizes numeric padding by the filter height and stride height alone). */
function nonEmpty(c: Case): boolean {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad);
  return info.outHeight > 0 && info.outWidth > 0;
}

function describeCase(c: Case): string {
  return `x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`;
}

/** Random valid configurations, the same on every run. */
function randomCases(count: number, seed: number): Case[] {
  const next = random(seed);
  const cases: Case[] = [];
  while (cases.length < count) {
    const x: Case['x'] = [choose(next, [1, 1, 2, 3, 5]), pick(next, 1, 13), pick(next, 1, 13), choose(next, [1, 2, 3, 5, 8, 16, 17])];
    const w: Case['w'] = [choose(next, [1, 2, 3, 5]), choose(next, [1, 2, 3, 5]), x[3], choose(next, [1, 3, 4, 7, 16, 33, 64])];
    const strides: Case['strides'] = [choose(next, [1, 1, 2, 3]), choose(next, [1, 1, 2])];
    const kind = choose(next, ['same', 'valid', 'number', 'explicit'] as const);
    const pad: Pad = kind === 'number' ? pick(next, 0, 2)
      : kind === 'explicit' ? [[0, 0], [pick(next, 0, 2), pick(next, 0, 2)], [pick(next, 0, 2), pick(next, 0, 2)], [0, 0]]
      : kind;
    if (!nonEmpty({ x, w, strides, pad })) continue;
    cases.push({ x, w, strides, pad });
  }
  return cases;
}

/** Shapes that exercise the tiling edges and the split of K (see gemm.ts). */
const SHAPED: Case[] = [
  // 1x1 stride 1: the filter gradient is exactly x^T dy.
  { x: [4, 8, 8, 64], w: [1, 1, 64, 64], strides: [1, 1], pad: 'valid' },
  // More than one 64-wide tile in M and in N, with ragged edges.
  { x: [2, 6, 6, 130], w: [1, 1, 130, 70], strides: [1, 1], pad: 'same' },
  { x: [3, 9, 9, 40], w: [3, 3, 40, 65], strides: [2, 2], pad: 'same' },
  // ResNet-like stem: 7x7 stride 2 from 3 channels.
  { x: [2, 32, 32, 3], w: [7, 7, 3, 16], strides: [2, 2], pad: 'same' },
  // K = 32768: 256 slices, summed in one pass.
  { x: [8, 64, 64, 3], w: [3, 3, 3, 8], strides: [1, 1], pad: 'same' },
  // K = 36864: 288 slices, summed in two passes.
  { x: [9, 64, 64, 2], w: [1, 1, 2, 4], strides: [1, 1], pad: 'valid' },
  // Batch of 32, the training batch.
  { x: [32, 7, 7, 16], w: [3, 3, 16, 32], strides: [1, 1], pad: 'same' },
];

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`conv2d gradients on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  const cases = [...randomCases(30, 2026), ...SHAPED];
  it.each(cases.map((c) => [describeCase(c), c] as const))('dx and dw: %s', async (_, c) => {
    const worst = await expectParity([c.x, c.w], (x, w) =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor) => weightedSum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad)))([x!, w!]),
    );
    expect(worst).toBeLessThan(1e-3);
  });

  it.each([
    { x: [2, 5, 5, 8] as const, w: [3, 3, 4, 8] as const, strides: [2, 2] as [number, number], pad: 'same' as const, out: [2, 10, 10, 4] as const },
    { x: [1, 4, 6, 3] as const, w: [2, 3, 5, 3] as const, strides: [3, 1] as [number, number], pad: 'valid' as const, out: [1, 11, 8, 5] as const },
  ])('conv2dTranspose (Conv2DBackpropInput forward) to $out', async (c) => {
    await expectParity([c.x, c.w], (x, w) => tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [...c.out], c.strides, c.pad));
  });
});
