/**
 * The `idx` format: MNIST-style images + labels files (see idx.ts).
 */
import { DataError } from './data-error.ts';
import type { Item } from './decode-items.ts';
import { resizeRaw } from './decode-image.ts';
import { readClassNames, readIdx } from './idx.ts';
import type { Source } from './source.ts';

type IdxItem = Item & { index: number };

export async function idxSource(imagesPath: string, classes: string[] | null): Promise<Source<IdxItem>> {
  const idx = await readIdx(imagesPath);
  const named = classes ?? (await readClassNames(idx.imagesPath));
  const top = idx.labels.reduce((m, v) => Math.max(m, v), 0);
  const names = named ?? Array.from({ length: top + 1 }, (_, i) => String(i));
  const items: IdxItem[] = [];
  for (let i = 0; i < idx.count; i++) {
    const label = idx.labels[i]!;
    if (label >= names.length) {
      const from = classes ? 'the training data' : 'labels.txt';
      throw new DataError('unknown-label', `label ${label} of image #${i} in '${idx.labelsPath}' is not a class of ${from} (${names.length} classes: ${names.join(', ')})`, {
        path: idx.labelsPath,
      });
    }
    items.push({ source: `${idx.imagesPath}#${i}`, label, index: i });
  }
  const { height, width, channels } = idx;
  const bytes = height * width * channels;
  return {
    classes: names,
    items,
    decode: (item, to) => resizeRaw(idx.pixels.subarray(item.index * bytes, (item.index + 1) * bytes), { width, height, channels }, to),
    classPath: () => idx.imagesPath,
  };
}
