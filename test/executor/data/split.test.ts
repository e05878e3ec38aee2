import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, stratifiedSplit } from '../../../src/executor/data/index.ts';
import { dataSpec, tempDir, writeClassTree } from './fixtures.ts';

// 3 classes with 40, 20 and 10 examples, interleaved.
const labels = Int32Array.from([...Array(40).fill(0), ...Array(20).fill(1), ...Array(10).fill(2)].map((v, i, a) => a[(i * 11) % a.length]!));

const perClass = (indices: Int32Array) => [0, 1, 2].map((c) => Array.from(indices).filter((i) => labels[i] === c).length);

describe('stratifiedSplit', () => {
  it('is reproducible from its seed and changes with it', () => {
    const a = stratifiedSplit(labels, 3, 0.25, 7);
    const b = stratifiedSplit(labels, 3, 0.25, 7);
    const c = stratifiedSplit(labels, 3, 0.25, 8);
    expect(Array.from(a.val)).toEqual(Array.from(b.val));
    expect(Array.from(a.val)).not.toEqual(Array.from(c.val));
  });

  it('holds out the fraction of every class', () => {
    const { train, val } = stratifiedSplit(labels, 3, 0.25, 7);
    expect(perClass(val)).toEqual([10, 5, 3]); // 10, 5, round(2.5) = 3
    expect(perClass(train)).toEqual([30, 15, 7]);
  });

  it('partitions the examples: disjoint and complete', () => {
    const { train, val } = stratifiedSplit(labels, 3, 0.3, 3);
    const all = [...train, ...val].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: labels.length }, (_, i) => i));
    expect(new Set(all).size).toBe(labels.length);
  });

  it('leaves every class a training example and reports single-example classes', () => {
    const small = Int32Array.from([0, 0, 1, 2, 2, 2]);
    const { train, val, singletons } = stratifiedSplit(small, 3, 0.9, 1);
    expect(singletons).toEqual([1]);
    expect(new Set(Array.from(train, (i) => small[i])).size).toBe(3);
    expect(val.length).toBe(1 + 2);
  });

  it('splits a class of more images than a call takes arguments', () => {
    const { train, val } = stratifiedSplit(new Int32Array(200_000), 1, 0.2, 1);
    expect([train.length, val.length]).toEqual([160_000, 40_000]);
  });

  it('holds out nothing at fraction 0', () => {
    const { train, val } = stratifiedSplit(labels, 3, 0, 1);
    expect([train.length, val.length]).toEqual([70, 0]);
  });
});

describe('loadDataset: split', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeClassTree(join(dir, 'd'), { a: 10, b: 5, c: 1 });
  });
  afterAll(() => cleanup());

  it('splits decoded images by seed, keeps sources with their images, and warns about a single-image class', async () => {
    const warnings: string[] = [];
    const load = (seed: number) => loadDataset(dataSpec('folder', 'd', { split: 0.2 }), { baseDir: dir, imageSize: 4, seed, warn: (m) => warnings.push(m) });
    const one = await load(5);
    const again = await load(5);
    const other = await load(6);
    expect([one.train.count, one.val.count]).toEqual([16 - 3, 3]);
    expect(Array.from(one.val.labels)).toEqual([0, 0, 1]);
    expect(one.val.sources).toEqual(again.val.sources);
    expect(one.val.sources).not.toEqual(other.val.sources);
    expect(one.train.sources.filter((s) => one.val.sources.includes(s))).toEqual([]);
    // Each image's bytes are its class colour: class a is red.
    expect(one.val.images.image(0)[0]).toBeGreaterThan(200);
    expect(warnings.filter((w) => w.includes("class 'c' has a single image"))).toHaveLength(3);
  });
});
