import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { augmentBatch } from '../../../src/executor/augment/augment-batch.ts';
import { createRng } from '../../../src/executor/augment/rng.ts';
import type { AugmentOp } from '../../../src/plan/schema.ts';
import { batchOf, image, oneHot, op, same } from './helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Runs augmentBatch and returns plain arrays, disposing everything it made. */
function augment(x: tf.Tensor4D, y: tf.Tensor2D, ops: AugmentOp[], seed = 1, range?: readonly [number, number]) {
  const out = augmentBatch(x, y, ops, createRng(seed), range ? { range } : {});
  const result = { x: out.x.dataSync() as Float32Array, y: out.y.dataSync() as Float32Array, shape: out.x.shape };
  out.x.dispose();
  out.y.dispose();
  return result;
}

const N = 16;
const labels = (n: number) => oneHot(Array.from({ length: n }, (_, i) => i % 4), 4);
const ramp = (n = N, size = 16) => batchOf(n, size, size, 3, (i, r, c, ch) => (r * size + c) / (size * size) + ch * 0.01 + i * 1e-4);

describe('augmentBatch: geometric ops', () => {
  it.each([
    ['horizontal', [2]],
    ['vertical', [1]],
  ] as const)('flip %s: each image is itself or exactly its reverse, and both occur', (mode, axes) => {
    const x = ramp();
    const y = labels(N);
    const out = augment(x, y, [op({ op: 'flip', mode })]);
    const input = x.dataSync() as Float32Array;
    const reversed = tf.tidy(() => tf.reverse(x, [...axes]).dataSync() as Float32Array);
    let flips = 0;
    for (let i = 0; i < N; i++) {
      const o = image(out.x, out.shape, i);
      const isSame = same(o, image(input, x.shape, i));
      const isFlip = same(o, image(reversed, x.shape, i));
      expect(isSame || isFlip).toBe(true);
      if (isFlip) flips++;
    }
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(N);
    expect(out.y).toEqual(y.dataSync());
    tf.dispose([x, y]);
  });

  it('flip both: each image is one of its four flips', () => {
    const x = ramp();
    const out = augment(x, labels(N), [op({ op: 'flip', mode: 'both' })]);
    const variants = [[], [1], [2], [1, 2]].map((axes) => tf.tidy(() => (axes.length ? tf.reverse(x, axes) : x.clone()).dataSync() as Float32Array));
    const seen = new Set<number>();
    for (let i = 0; i < N; i++) {
      const k = variants.findIndex((v) => same(image(out.x, out.shape, i), image(v, x.shape, i)));
      expect(k).toBeGreaterThanOrEqual(0);
      seen.add(k);
    }
    expect(seen.size).toBeGreaterThan(2);
    x.dispose();
  });

  it('rotate: a centred disc stays put, an off-centre square moves', () => {
    const size = 33;
    const disc = (cx: number, cy: number, radius: number) => (_i: number, r: number, c: number) => ((r - cy) ** 2 + (c - cx) ** 2 <= radius ** 2 ? 1 : 0);
    const x = batchOf(8, size, size, 1, disc(16, 16, 10));
    const out = augment(x, labels(8), [op({ op: 'rotate', degrees: 90 })]);
    for (let i = 0; i < 8; i++) {
      const o = image(out.x, out.shape, i);
      expect(o[16 * size + 16]).toBeCloseTo(1, 5); // centre
      expect(o[16 * size + 8]).toBeCloseTo(1, 5); // inside, radius 8
      expect(o[2 * size + 2]).toBeCloseTo(0, 5); // corner stays background
    }
    const square = batchOf(8, size, size, 1, (_i, r, c) => (r < 8 && c < 8 ? 1 : 0));
    const moved = augment(square, labels(8), [op({ op: 'rotate', degrees: 90 })]);
    const changed = Array.from({ length: 8 }, (_, i) => !same(image(moved.x, moved.shape, i), image(square.dataSync() as Float32Array, square.shape, i)));
    expect(changed.filter(Boolean).length).toBeGreaterThan(6);
    tf.dispose([x, square]);
  });

  /** Along the middle row of a horizontal ramp (value = column), reports slope and value at the centre. */
  function rampGeometry(ops: AugmentOp[], size = 41) {
    const x = batchOf(N, size, size, 1, (_i, _r, c) => c);
    const out = augment(x, labels(N), ops);
    x.dispose();
    const mid = (size - 1) / 2;
    return Array.from({ length: N }, (_, i) => {
      const row = image(out.x, out.shape, i).slice(mid * size, (mid + 1) * size);
      return { slope: (row[mid + 2]! - row[mid - 2]!) / 4, centre: row[mid]!, row };
    });
  }

  it('zoom: scales about the centre by a factor within ±factor', () => {
    const g = rampGeometry([op({ op: 'zoom', factor: 0.3 })]);
    for (const { slope, centre } of g) {
      expect(slope).toBeGreaterThanOrEqual(0.7 - 1e-4);
      expect(slope).toBeLessThanOrEqual(1.3 + 1e-4);
      expect(centre).toBeCloseTo(20, 3);
    }
    expect(new Set(g.map((v) => v.slope.toFixed(3))).size).toBeGreaterThan(N / 2);
  });

  it('translate: shifts by at most fraction of the size, without scaling', () => {
    const g = rampGeometry([op({ op: 'translate', fraction: 0.2 })]);
    for (const { slope, centre } of g) {
      expect(slope).toBeCloseTo(1, 4);
      expect(Math.abs(centre - 20)).toBeLessThanOrEqual(0.2 * 41 + 1e-3);
    }
    expect(g.some((v) => Math.abs(v.centre - 20) > 1)).toBe(true);
  });

  it('crop: a (1-fraction) window inside the image, stretched back', () => {
    const g = rampGeometry([op({ op: 'crop', fraction: 0.25 })]);
    for (const { slope, row } of g) {
      expect(slope).toBeCloseTo(0.75, 4);
      // Stretched window: monotone, and inside the image (no reflection needed).
      for (let c = 1; c < row.length; c++) expect(row[c]!).toBeGreaterThan(row[c - 1]!);
      expect(row[0]!).toBeGreaterThanOrEqual(-0.5);
      expect(row[row.length - 1]!).toBeLessThanOrEqual(40.5);
    }
  });
});

describe('augmentBatch: value ops', () => {
  const mid = () => batchOf(N, 8, 8, 3, (i, r, c, ch) => 0.5 + 0.2 * Math.sin(i + r * 0.7 + c * 1.3 + ch));

  it('brightness: shifts each image by one offset within ±delta of the range span', () => {
    const x = mid();
    const out = augment(x, labels(N), [op({ op: 'brightness', delta: 0.1 })], 5, [-1, 1]);
    const input = x.dataSync() as Float32Array;
    const shifts = new Set<string>();
    for (let i = 0; i < N; i++) {
      const a = image(input, x.shape, i);
      const b = image(out.x, out.shape, i);
      const d = b[0]! - a[0]!;
      for (let k = 0; k < a.length; k++) expect(b[k]! - a[k]!).toBeCloseTo(d, 5);
      expect(Math.abs(d)).toBeLessThanOrEqual(0.2 + 1e-6);
      shifts.add(d.toFixed(4));
    }
    expect(shifts.size).toBe(N);
    x.dispose();
  });

  it('brightness clips to the range', () => {
    const x = batchOf(N, 4, 4, 3, () => 0.99);
    const out = augment(x, labels(N), [op({ op: 'brightness', delta: 0.5 })], 1, [0, 1]);
    expect(Math.max(...out.x)).toBe(1);
    expect(Math.min(...out.x)).toBeGreaterThanOrEqual(0);
    x.dispose();
  });

  it('contrast: keeps each channel mean and scales deviations by a factor within ±factor', () => {
    const x = mid();
    const out = augment(x, labels(N), [op({ op: 'contrast', factor: 0.4 })]);
    const input = x.dataSync() as Float32Array;
    for (let i = 0; i < N; i++) {
      const a = image(input, x.shape, i);
      const b = image(out.x, out.shape, i);
      const stats = (v: Float32Array) => {
        const ch0 = v.filter((_, k) => k % 3 === 0);
        const m = ch0.reduce((s, t) => s + t) / ch0.length;
        return { m, sd: Math.sqrt(ch0.reduce((s, t) => s + (t - m) ** 2, 0) / ch0.length) };
      };
      const sa = stats(a);
      const sb = stats(b);
      expect(sb.m).toBeCloseTo(sa.m, 5);
      expect(sb.sd / sa.sd).toBeGreaterThanOrEqual(0.6 - 1e-4);
      expect(sb.sd / sa.sd).toBeLessThanOrEqual(1.4 + 1e-4);
    }
    x.dispose();
  });

  it('noise: zero-mean residual with stddev × span', () => {
    const x = batchOf(4, 32, 32, 3, () => 0);
    const out = augment(x, labels(4), [op({ op: 'noise', stddev: 0.05 })], 3, [-1, 1]);
    const mean = out.x.reduce((s, v) => s + v) / out.x.length;
    const sd = Math.sqrt(out.x.reduce((s, v) => s + (v - mean) ** 2, 0) / out.x.length);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(sd).toBeCloseTo(0.1, 2);
    x.dispose();
  });
});

describe('augmentBatch: mixing', () => {
  // Image i is a constant i/N and has class i, so every output pixel and label row says who was mixed.
  const n = 8;
  const tagged = () => batchOf(n, 6, 6, 3, (i) => i / n);
  const ids = () => oneHot(Array.from({ length: n }, (_, i) => i), n);

  it('mixup: labels sum to 1 and weigh the same two examples the pixels mix', () => {
    const x = tagged();
    const y = ids();
    const out = augment(x, y, [op({ op: 'mixup', alpha: 0.4 })], 9);
    let mixed = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(out.y.slice(i * n, (i + 1) * n));
      expect(row.reduce((a, b) => a + b)).toBeCloseTo(1, 6);
      const expected = row.reduce((s, w, k) => s + w * (k / n), 0);
      for (const v of image(out.x, out.shape, i)) expect(v).toBeCloseTo(expected, 5);
      if (row.filter((w) => w > 1e-6).length === 2) mixed++;
      expect(row[i]!).toBeGreaterThan(0);
    }
    expect(mixed).toBeGreaterThan(n / 2);
    tf.dispose([x, y]);
  });

  it('cutmix: a pasted box whose area is the partner label weight', () => {
    const x = tagged();
    const y = ids();
    const out = augment(x, y, [op({ op: 'cutmix', alpha: 1 })], 4);
    let pasted = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(out.y.slice(i * n, (i + 1) * n));
      expect(row.reduce((a, b) => a + b)).toBeCloseTo(1, 6);
      const pixels = image(out.x, out.shape, i).filter((_, k) => k % 3 === 0);
      const own = pixels.filter((v) => v === i / n).length / pixels.length;
      if (own < 1) {
        pasted++;
        expect(row[i]).toBeCloseTo(own, 6);
      }
      // Every pixel is either the image's own value or exactly one partner's.
      expect(new Set(pixels).size).toBeLessThanOrEqual(2);
    }
    expect(pasted).toBeGreaterThan(0);
    tf.dispose([x, y]);
  });

  it('with mixup and cutmix listed, labels still sum to 1', () => {
    const x = tagged();
    const y = ids();
    for (const seed of [1, 2, 3, 4]) {
      const out = augment(x, y, [op({ op: 'mixup', alpha: 0.2 }), op({ op: 'cutmix', alpha: 1 })], seed);
      for (let i = 0; i < n; i++) expect(out.y.slice(i * n, (i + 1) * n).reduce((a, b) => a + b)).toBeCloseTo(1, 6);
    }
    tf.dispose([x, y]);
  });
});

describe('augmentBatch: determinism and memory', () => {
  const all: AugmentOp[] = [
    op({ op: 'flip', mode: 'horizontal' }),
    op({ op: 'rotate', degrees: 15 }),
    op({ op: 'zoom', factor: 0.1 }),
    op({ op: 'translate', fraction: 0.1 }),
    op({ op: 'crop', fraction: 0.1 }),
    op({ op: 'brightness', delta: 0.1 }),
    op({ op: 'contrast', factor: 0.2 }),
    op({ op: 'noise', stddev: 0.02 }),
    op({ op: 'mixup', alpha: 0.2 }),
  ];

  it('same seed: identical output; different seed: different output', () => {
    const x = ramp(8, 12);
    const y = labels(8);
    const a = augment(x, y, all, 11);
    const b = augment(x, y, all, 11);
    const c = augment(x, y, all, 12);
    expect(same(a.x, b.x) && same(a.y, b.y)).toBe(true);
    expect(same(a.x, c.x)).toBe(false);
    tf.dispose([x, y]);
  });

  it('leaves no tensor behind, returns new tensors and leaves the inputs alone', () => {
    const x = ramp(8, 12);
    const y = labels(8);
    const before = x.dataSync().slice();
    for (const ops of [all, [], [op({ op: 'cutmix', alpha: 1 })]]) {
      const count = tf.memory().numTensors;
      const out = augmentBatch(x, y, ops, createRng(1));
      expect(tf.memory().numTensors).toBe(count + 2);
      expect(out.x).not.toBe(x);
      expect(out.y).not.toBe(y);
      tf.dispose([out.x, out.y]);
      expect(tf.memory().numTensors).toBe(count);
    }
    expect(same(x.dataSync() as Float32Array, before as Float32Array)).toBe(true);
    expect(x.isDisposed).toBe(false);
    tf.dispose([x, y]);
  });

  it('rejects a batch of the wrong rank or labels of the wrong length', () => {
    const x = ramp(4, 4);
    const y = labels(3);
    expect(() => augmentBatch(x, y, all, createRng(1))).toThrow(/labels of shape \[4, classes\]/);
    tf.dispose([x, y]);
  });
});
