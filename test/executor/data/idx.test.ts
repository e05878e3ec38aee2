import { existsSync } from 'node:fs';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labelsPathFor } from '../../../src/executor/data/idx.ts';
import { loadDataset } from '../../../src/executor/data/index.ts';
import { dataSpec, idxBytes, pixel, tempDir } from './fixtures.ts';

const DEBIAN = '/usr/share/datasets/fashion-mnist';
const hasDebian = existsSync(join(DEBIAN, 'train-images-idx3-ubyte.gz'));

describe('labelsPathFor', () => {
  it('swaps images-idx3 for labels-idx1', () => {
    expect(labelsPathFor('/d/train-images-idx3-ubyte.gz')).toBe('/d/train-labels-idx1-ubyte.gz');
    expect(labelsPathFor('/d/t10k-images.idx3-ubyte')).toBe('/d/t10k-labels.idx1-ubyte');
    expect(labelsPathFor('/d/pictures.bin')).toBeNull();
  });
});

describe('loadDataset: idx', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  /** Six 2x3 images; image i has every pixel 40*i, label i % 3. */
  async function writeTiny(prefix: string, gzip: boolean, labels = [0, 1, 2, 0, 1, 2]) {
    const n = labels.length;
    const pixels = Array.from({ length: n * 6 }, (_, k) => 40 * Math.floor(k / 6));
    const pack = (b: Buffer) => (gzip ? gzipSync(b) : b);
    const ext = gzip ? '.gz' : '';
    await writeFile(join(dir, `${prefix}-images-idx3-ubyte${ext}`), pack(idxBytes([n, 2, 3], pixels)));
    await writeFile(join(dir, `${prefix}-labels-idx1-ubyte${ext}`), pack(idxBytes([n], labels)));
  }

  const load = (path: string, extra: Parameters<typeof dataSpec>[2] = {}, imageSize = 4) =>
    loadDataset(dataSpec('idx', path, extra), { baseDir: dir, imageSize, seed: 1 });

  it.each([false, true])('reads a tiny IDX pair (gzip %s), resized to RGB, classes 0..max', async (gzip) => {
    await writeTiny('train', gzip);
    const data = await load(`train-images-idx3-ubyte${gzip ? '.gz' : ''}`);
    expect(data.classes).toEqual(['0', '1', '2']);
    expect(data.train.count).toBe(6);
    expect(Array.from(data.train.labels)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(data.train.sources[4]).toBe(join(dir, `train-images-idx3-ubyte${gzip ? '.gz' : ''}#4`));
    for (let i = 0; i < 6; i++) for (const p of [0, 15]) expect(pixel(data.train.images, i, p)).toEqual([40 * i, 40 * i, 40 * i]);
  });

  it('takes class names from labels.txt and a val IDX pair', async () => {
    await writeTiny('train', false);
    await writeTiny('t10k', true, [2, 1, 0]);
    await writeFile(join(dir, 'labels.txt'), 'zero\none\ntwo\n');
    const data = await load('train-images-idx3-ubyte', { val: 't10k-images-idx3-ubyte.gz' }, 2);
    expect(data.classes).toEqual(['zero', 'one', 'two']);
    expect(Array.from(data.val.labels)).toEqual([2, 1, 0]);
  });

  it('rejects a label beyond labels.txt, a missing labels file and a mismatched one', async () => {
    await writeTiny('train', false, [0, 1, 5]);
    await writeFile(join(dir, 'labels.txt'), 'a\nb\nc\n');
    await expect(load('train-images-idx3-ubyte')).rejects.toMatchObject({ code: 'unknown-label', message: expect.stringContaining('label 5 of image #2') });

    await writeFile(join(dir, 'x-images-idx3-ubyte'), idxBytes([1, 2, 2], [1, 2, 3, 4]));
    await expect(load('x-images-idx3-ubyte')).rejects.toMatchObject({ code: 'data-not-found', path: join(dir, 'x-labels-idx1-ubyte') });

    await writeFile(join(dir, 'x-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
    await expect(load('x-images-idx3-ubyte')).rejects.toMatchObject({ code: 'bad-idx', message: expect.stringContaining('holds 2 labels but') });
  });

  it('rejects a file that is not IDX, a truncated one, and a name without images-idx3', async () => {
    await writeFile(join(dir, 'bad-images-idx3-ubyte'), 'PK\u0003\u0004 zip');
    await writeFile(join(dir, 'bad-labels-idx1-ubyte'), idxBytes([1], [0]));
    await expect(load('bad-images-idx3-ubyte')).rejects.toMatchObject({ code: 'bad-idx', path: join(dir, 'bad-images-idx3-ubyte') });
    await writeFile(join(dir, 'cut-images-idx3-ubyte'), idxBytes([2, 2, 2], [1, 2, 3, 4, 5]));
    await writeFile(join(dir, 'cut-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
    await expect(load('cut-images-idx3-ubyte')).rejects.toMatchObject({ code: 'bad-idx', message: expect.stringContaining('promises 8 bytes') });
    await writeFile(join(dir, 'pictures.bin'), idxBytes([1, 2, 2], [1, 2, 3, 4]));
    await expect(load('pictures.bin')).rejects.toMatchObject({ code: 'bad-idx', message: expect.stringContaining('images-idx3') });
  });

  it('refuses an images file that is a device at once, instead of reading it forever', async () => {
    await symlink('/dev/zero', join(dir, 'z-images-idx3-ubyte'));
    await expect(load('z-images-idx3-ubyte')).rejects.toMatchObject({ code: 'bad-idx', message: expect.stringContaining('it is a character device, not a regular file') });
  });

  it.skipIf(!hasDebian)('reads the real Fashion-MNIST files from Debian', async () => {
    const data = await loadDataset(dataSpec('idx', join(DEBIAN, 'train-images-idx3-ubyte.gz'), { val: join(DEBIAN, 't10k-images-idx3-ubyte.gz') }), {
      baseDir: dir,
      imageSize: 28,
      seed: 1,
      limitPerClass: 20,
    });
    expect(data.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect([data.train.count, data.val.count]).toEqual([200, 200]);
    // The first training image is an ankle boot (label 9); images are dark backgrounds with bright items.
    expect(data.train.labels[0]).toBe(9);
    expect(pixel(data.train.images, 0, 0)).toEqual([0, 0, 0]);
    expect(Math.max(...data.train.images.image(0))).toBeGreaterThan(200);
  });
});
