import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/executor/data/index.ts';
import { dataSpec } from './fixtures.ts';

const root = fileURLToPath(new URL('../../../examples/data/fashion-mini', import.meta.url));
const DEBIAN = '/usr/share/datasets/fashion-mnist';

describe('examples/data/fashion-mini', () => {
  it('loads as 10 classes of 40 training and 10 validation images', async () => {
    const data = await loadDataset(dataSpec('folder', 'train', { val: 'test' }), { baseDir: root, imageSize: 28, seed: 1 });
    expect(data.classes).toEqual(['bag', 'boot', 'coat', 'dress', 'pullover', 'sandal', 'shirt', 'sneaker', 'trouser', 'tshirt']);
    expect([data.train.count, data.val.count]).toEqual([400, 100]);
  });

  it.skipIf(!existsSync(join(DEBIAN, 'train-images-idx3-ubyte.gz')))('holds the first 40 images of each class of the Debian IDX, pixel for pixel', async () => {
    const options = { baseDir: root, imageSize: 28, seed: 1 };
    const folder = await loadDataset(dataSpec('folder', 'train'), options);
    const idx = await loadDataset(dataSpec('idx', join(DEBIAN, 'train-images-idx3-ubyte.gz')), { ...options, limitPerClass: 40 });
    const names = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];
    for (const [label, name] of names.entries()) {
      const fromIdx = Array.from(idx.train.labels.keys()).filter((i) => idx.train.labels[i] === label);
      const fromFolder = Array.from(folder.train.labels.keys()).filter((i) => folder.classes[folder.train.labels[i]!] === name);
      expect(fromFolder.length).toBe(40);
      fromFolder.forEach((f, k) => {
        const i = fromIdx[k]!;
        expect(Buffer.from(folder.train.images.image(f)).equals(Buffer.from(idx.train.images.image(i)))).toBe(true);
      });
    }
  });
});
