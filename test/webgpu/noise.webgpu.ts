/**
 * The `noise` augmentation on webgpu, drawn on the GPU: no cpu reference draws the same numbers, so
 * its statistics are checked instead (mean, spread, independence of neighbours, clipping), and that
 * a seed reproduces its batch.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { noise } from '../../src/executor/augment/photometric.ts';
import { createRng } from '../../src/executor/augment/rng.ts';
import { GAUSSIAN_NOISE } from '../../src/executor/backends/webgpu/noise.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();
const SHAPE: [number, number, number, number] = [8, 64, 64, 3];

async function draw(level: number, seed: number, stddev = 0.1): Promise<Float32Array> {
  await tf.setBackend('webgpu');
  const x = tf.fill(SHAPE, level) as tf.Tensor4D;
  const y = noise(x, stddev, [0, 1], createRng(seed));
  const values = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return values;
}

describe.skipIf(!env.ok)(`noise augmentation on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('runs as TL\'s kernel', async () => {
    const x = tf.fill(SHAPE, 0.5) as tf.Tensor4D;
    const { kernels } = await tf.profile(() => noise(x, 0.1, [0, 1], createRng(1)));
    x.dispose();
    expect(kernels.map((k) => k.name)).toContain(GAUSSIAN_NOISE);
  });

  it('adds normal noise of the asked spread, independent between neighbours', async () => {
    const v = await draw(0.5, 7);
    const n = v.length;
    let sum = 0;
    for (const a of v) sum += a - 0.5;
    const mean = sum / n;
    let sq = 0;
    let lag = 0;
    let tails = 0;
    const squares = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = v[i]! - 0.5 - mean;
      sq += d * d;
      squares[i] = d * d;
      if (i > 0) lag += d * (v[i - 1]! - 0.5 - mean);
      if (Math.abs(d) > 0.2) tails++;
    }
    const sd = Math.sqrt(sq / n);
    // Neighbours' magnitudes too (two values sharing one Box-Muller radius would correlate here, not above).
    const s2 = sq / n;
    let varSq = 0;
    let lagSq = 0;
    for (let i = 0; i < n; i++) {
      varSq += (squares[i]! - s2) ** 2;
      if (i > 0) lagSq += (squares[i]! - s2) * (squares[i - 1]! - s2);
    }
    expect(Math.abs(lagSq / varSq)).toBeLessThan(0.02);
    // 98,304 draws: the standard error of the mean is 3e-4, of the spread 0.2%, of the correlation 0.003.
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(Math.abs(sd - 0.1) / 0.1).toBeLessThan(0.02);
    expect(Math.abs(lag / sq)).toBeLessThan(0.015);
    // Beyond 2 sigma: 4.55% of a normal distribution.
    expect(tails / n).toBeGreaterThan(0.04);
    expect(tails / n).toBeLessThan(0.051);
  });

  it('clips into the range, and a seed reproduces its batch', async () => {
    const high = await draw(0.95, 3);
    expect(Math.max(...high)).toBeLessThanOrEqual(1);
    expect(high.filter((a) => a === 1).length).toBeGreaterThan(high.length * 0.2);
    const again = await draw(0.95, 3);
    expect(Buffer.from(again.buffer).equals(Buffer.from(high.buffer))).toBe(true);
    const other = await draw(0.95, 4);
    expect(Buffer.from(other.buffer).equals(Buffer.from(high.buffer))).toBe(false);
  });
});
