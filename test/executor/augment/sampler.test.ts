import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, rotation, type Affine } from '../../../src/executor/augment/affine.ts';
import { reflect, sampleAffine } from '../../../src/executor/augment/sampler.ts';
import { batchOf } from './helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => tf.disposeVariables());

const run = (x: tf.Tensor4D, m: Affine[]): Float32Array => tf.tidy(() => sampleAffine(x, m).dataSync() as Float32Array);

describe('sampleAffine', () => {
  it('reproduces the input exactly under the identity', () => {
    const x = batchOf(2, 5, 7, 3, (i, r, c, ch) => i * 100 + r * 10 + c + ch / 10);
    expect(run(x, [[1, 0, 0, 0, 1, 0], [1, 0, 0, 0, 1, 0]])).toEqual(x.dataSync());
    x.dispose();
  });

  it('rotates by 180 degrees: equals reversing both axes, and leaves a point-symmetric pattern unchanged', () => {
    const asym = batchOf(1, 6, 8, 1, (_i, r, c) => r * 8 + c);
    const rotated = run(asym, [rotation(Math.PI)]);
    const reversed = tf.tidy(() => tf.reverse(asym, [1, 2]).dataSync());
    rotated.forEach((v, k) => expect(v).toBeCloseTo(reversed[k]!, 4));

    // Symmetric under (r, c) -> (H-1-r, W-1-c) but not under either flip alone.
    const sym = batchOf(1, 7, 7, 1, (_i, r, c) => (r - 3) * (c - 3) + Math.abs(r - 3));
    const out = run(sym, [rotation(Math.PI)]);
    const input = sym.dataSync();
    out.forEach((v, k) => expect(v).toBeCloseTo(input[k]!, 4));
    const flipped = tf.tidy(() => tf.reverse(sym, 2).dataSync());
    expect(Array.from(flipped)).not.toEqual(Array.from(input));
    asym.dispose();
    sym.dispose();
  });

  it('interpolates bilinearly: a half-pixel shift of a ramp averages neighbours', () => {
    const x = batchOf(1, 3, 6, 1, (_i, _r, c) => c * 2);
    const out = run(x, [[1, 0, 0.5, 0, 1, 0]]);
    // Column c samples at c + 0.5: value 2c + 1, except the last, reflected back onto itself.
    expect(Array.from(out.slice(0, 6))).toEqual([1, 3, 5, 7, 9, 10]);
    x.dispose();
  });

  it('composes transforms in application order', () => {
    const shift: Affine = [1, 0, -1, 0, 1, 0];
    const flip: Affine = [-1, 0, 0, 0, 1, 0];
    // Shift right by one, then flip: the output column c shows input column (W-1-c) - 1.
    const x = batchOf(1, 1, 6, 1, (_i, _r, c) => c);
    const out = run(x, [compose(shift, flip)]);
    expect(Array.from(out)).toEqual([4, 3, 2, 1, 0, 0]);
    x.dispose();
  });

  it('reflects about the edges', () => {
    expect([-1, -0.5, 0, 5, 5.5, 6, 7].map((v) => reflect(v, 6))).toEqual([0, 0, 0, 5, 5, 5, 4]);
    expect(reflect(-2, 6)).toBe(1);
    expect(reflect(13, 6)).toBe(1);
  });
});
