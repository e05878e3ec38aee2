/**
 * Writes examples/data/fashion-mini: a small real image dataset for examples and tests, taken
 * from Fashion-MNIST (MIT, © Zalando SE) as packaged by Debian (`apt-get install dataset-fashion-mnist`).
 *
 *   npx tsx scripts/make-fashion-mini.ts [--source /usr/share/datasets/fashion-mnist] [--out examples/data/fashion-mini]
 *
 * train/<class>/NNN.png: the first 40 images of each class in the training file;
 * test/<class>/NNN.png: the first 10 of each class in the test file. 28×28 grayscale PNGs.
 * A shifted domain for `adapt` (as if from another camera: low contrast on a grey background,
 * v' = 0.4 v + 110): dim/unlabelled/NNNN.png, the next 40 training images of each class, flat and
 * without labels; dim/test/<class>/NNN.png, the test images above, shifted.
 * Deterministic: running it again writes the same bytes.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { readIdx } from '../src/executor/data/idx.ts';

/** Fashion-MNIST's classes in label order, as short folder names. */
const CLASSES = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];

const { values } = parseArgs({
  options: {
    source: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    out: { type: 'string', default: 'examples/data/fashion-mini' },
  },
});
const source = values.source;
const out = values.out;

/** The dim domain's shift: low contrast on a grey background. */
const dim = (v: number) => Math.round(0.4 * v + 110);

interface Split {
  readonly split: string;
  /** Images of each class taken, after skipping `skip` of each. */
  readonly perClass: number;
  readonly skip?: number;
  readonly shift?: (v: number) => number;
  /** One flat folder with no class subfolders (unlabelled). */
  readonly flat?: boolean;
}

async function writeSplit(imagesFile: string, { split, perClass, skip = 0, shift, flat = false }: Split): Promise<number> {
  const idx = await readIdx(join(source, imagesFile));
  const bytes = idx.height * idx.width * idx.channels;
  const seen = new Array<number>(CLASSES.length).fill(0);
  let written = 0;
  await rm(join(out, split), { recursive: true, force: true });
  await mkdir(join(out, split), { recursive: true });
  if (!flat) for (const name of CLASSES) await mkdir(join(out, split, name), { recursive: true });
  for (let i = 0; i < idx.count && seen.some((n) => n < skip + perClass); i++) {
    const label = idx.labels[i]!;
    const k = seen[label]!;
    seen[label] = k + 1;
    if (k < skip || k >= skip + perClass) continue;
    const n = k - skip;
    const raw = idx.pixels.subarray(i * bytes, (i + 1) * bytes);
    const pixels = shift ? raw.map(shift) : raw;
    const png = await sharp(pixels, { raw: { width: idx.width, height: idx.height, channels: idx.channels } })
      .toColourspace(idx.channels === 1 ? 'b-w' : 'srgb')
      .png({ compressionLevel: 9 })
      .toBuffer();
    const file = flat ? String(written).padStart(4, '0') : join(CLASSES[label]!, String(n).padStart(3, '0'));
    await writeFile(join(out, split, `${file}.png`), png);
    written++;
  }
  return written;
}

const LICENSE = `# fashion-mini

A 1,000-image subset of **Fashion-MNIST** (Zalando Research), for TL's examples and tests:

- \`train/<class>/NNN.png\`: the first 40 images of each class in Fashion-MNIST's training set (\`train-images-idx3-ubyte\`);
- \`test/<class>/NNN.png\`: the first 10 images of each class in its test set (\`t10k-images-idx3-ubyte\`);
- \`dim/\`: a shifted domain for \`adapt\`, as if from another camera (low contrast on a grey background: each pixel v becomes 0.4 v + 110):
  \`dim/unlabelled/NNNN.png\`, the next 40 training images of each class, flat and without labels, and \`dim/test/<class>/NNN.png\`, the test images above, shifted.

28×28 grayscale PNGs; outside \`dim/\`, unmodified pixels. Class folders, in Fashion-MNIST label order 0-9:
${CLASSES.map((c) => `\`${c}\``).join(', ')} (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).

Source: https://github.com/zalandoresearch/fashion-mnist, taken from the Debian package
\`dataset-fashion-mnist\` (files under /usr/share/datasets/fashion-mnist/). Regenerate with
\`npx tsx scripts/make-fashion-mini.ts\`.

Paper: Han Xiao, Kashif Rasul, Roland Vollgraf. *Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms.* arXiv:1708.07747, 2017.

## License

The MIT License (MIT)

Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;

const train = await writeSplit('train-images-idx3-ubyte.gz', { split: 'train', perClass: 40 });
const test = await writeSplit('t10k-images-idx3-ubyte.gz', { split: 'test', perClass: 10 });
const unlabelled = await writeSplit('train-images-idx3-ubyte.gz', { split: 'dim/unlabelled', perClass: 40, skip: 40, shift: dim, flat: true });
const dimTest = await writeSplit('t10k-images-idx3-ubyte.gz', { split: 'dim/test', perClass: 10, shift: dim });
await writeFile(join(out, 'LICENSE.md'), LICENSE);
console.log(`wrote ${train} training and ${test} test images, and ${unlabelled} unlabelled and ${dimTest} test images of the dim domain, to ${out}`);
