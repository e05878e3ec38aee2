/**
 * Writes examples/data/fashion-mini: a small real image dataset for examples and tests, taken
 * from Fashion-MNIST (MIT, © Zalando SE) as packaged by Debian (`apt-get install dataset-fashion-mnist`).
 *
 *   npx tsx scripts/make-fashion-mini.ts [--source /usr/share/datasets/fashion-mnist] [--out examples/data/fashion-mini]
 *
 * train/<class>/NNN.png: the first 40 images of each class in the training file;
 * test/<class>/NNN.png: the first 10 of each class in the test file. 28×28 grayscale PNGs.
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

async function writeSplit(imagesFile: string, split: string, perClass: number): Promise<number> {
  const idx = await readIdx(join(source, imagesFile));
  const bytes = idx.height * idx.width * idx.channels;
  const taken = new Array<number>(CLASSES.length).fill(0);
  await rm(join(out, split), { recursive: true, force: true });
  for (const name of CLASSES) await mkdir(join(out, split, name), { recursive: true });
  for (let i = 0; i < idx.count && taken.some((n) => n < perClass); i++) {
    const label = idx.labels[i]!;
    const n = taken[label]!;
    if (n >= perClass) continue;
    taken[label] = n + 1;
    const pixels = idx.pixels.subarray(i * bytes, (i + 1) * bytes);
    const png = await sharp(pixels, { raw: { width: idx.width, height: idx.height, channels: idx.channels } })
      .toColourspace(idx.channels === 1 ? 'b-w' : 'srgb')
      .png({ compressionLevel: 9 })
      .toBuffer();
    await writeFile(join(out, split, CLASSES[label]!, `${String(n).padStart(3, '0')}.png`), png);
  }
  return taken.reduce((a, b) => a + b, 0);
}

const LICENSE = `# fashion-mini

A 500-image subset of **Fashion-MNIST** (Zalando Research), for TL's examples and tests:

- \`train/<class>/NNN.png\`: the first 40 images of each class in Fashion-MNIST's training set (\`train-images-idx3-ubyte\`);
- \`test/<class>/NNN.png\`: the first 10 images of each class in its test set (\`t10k-images-idx3-ubyte\`).

28×28 grayscale PNGs, unmodified pixels. Class folders, in Fashion-MNIST label order 0-9:
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

const train = await writeSplit('train-images-idx3-ubyte.gz', 'train', 40);
const test = await writeSplit('t10k-images-idx3-ubyte.gz', 'test', 10);
await writeFile(join(out, 'LICENSE.md'), LICENSE);
console.log(`wrote ${train} training and ${test} test images to ${out}`);
