/**
 * Data-path throughput: decoding + resizing images, and augmenting batches.
 *
 *   npx tsx bench/data.ts
 *
 * Prints markdown tables. Decode: the bundled fashion-mini folder (500 28×28 PNGs, train + test)
 * at 96 and 224 px, and, when Debian's dataset-fashion-mnist is installed, 5,000 IDX images.
 * Augment: one batch of 32 at 96 px on the wasm backend (and cpu for reference), per op and all
 * together. Each number is the median of several runs after a warm-up.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { augmentBatch } from '../src/executor/augment/augment-batch.ts';
import { createRng } from '../src/executor/augment/rng.ts';
import { loadDataset } from '../src/executor/data/load-dataset.ts';
import type { DataSource } from '../src/executor/data/index.ts';
import type { AugmentOp } from '../src/plan/schema.ts';

const origin = { start: 0, end: 0, line: 1, column: 1 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeMs(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

async function benchDecode(): Promise<void> {
  const root = fileURLToPath(new URL('../examples/data/fashion-mini', import.meta.url));
  const rows: string[] = [];
  const folder: DataSource = { format: 'folder', path: 'train', split: 0, val: 'test' };
  for (const size of [96, 224]) {
    for (const concurrency of [1, 8]) {
      let count = 0;
      const ms = await timeMs(5, async () => {
        const d = await loadDataset(folder, { baseDir: root, imageSize: size, seed: 1, concurrency });
        count = d.train.count + d.val.count;
      });
      rows.push(`| fashion-mini folder (PNG 28 px) | ${size} | ${concurrency} | ${count} | ${ms.toFixed(0)} | ${((count / ms) * 1000).toFixed(0)} |`);
    }
  }
  const debian = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz';
  if (existsSync(debian)) {
    const idx: DataSource = { format: 'idx', path: debian, split: 0, val: null };
    for (const size of [28, 96, 224]) {
      let count = 0;
      const ms = await timeMs(3, async () => {
        const d = await loadDataset(idx, { baseDir: '/', imageSize: size, seed: 1, limitPerClass: 500 });
        count = d.train.count;
      });
      rows.push(`| Fashion-MNIST IDX (gz, 28 px raw) | ${size} | 8 | ${count} | ${ms.toFixed(0)} | ${((count / ms) * 1000).toFixed(0)} |`);
    }
  }
  console.log('\n### Decode + resize to RGB (loadDataset, includes listing and reading files)\n');
  console.log('| source | px | concurrency | images | ms | images/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}

async function benchAugment(): Promise<void> {
  const op = (o: object) => ({ ...o, origin }) as AugmentOp;
  const cases: Array<[string, AugmentOp[]]> = [
    ['flip', [op({ op: 'flip', mode: 'horizontal' })]],
    ['rotate', [op({ op: 'rotate', degrees: 15 })]],
    ['zoom + translate + crop', [op({ op: 'zoom', factor: 0.1 }), op({ op: 'translate', fraction: 0.1 }), op({ op: 'crop', fraction: 0.1 })]],
    ['brightness', [op({ op: 'brightness', delta: 0.2 })]],
    ['contrast', [op({ op: 'contrast', factor: 0.2 })]],
    ['noise', [op({ op: 'noise', stddev: 0.05 })]],
    ['mixup', [op({ op: 'mixup', alpha: 0.2 })]],
    ['cutmix', [op({ op: 'cutmix', alpha: 1 })]],
  ];
  cases.push(['all geometric + value + mixup', cases.slice(0, 7).flatMap(([, ops]) => ops)]);
  const rows: string[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    await tf.ready();
    const src = createRng(1);
    const x = tf.tensor4d(Float32Array.from({ length: 32 * 96 * 96 * 3 }, () => src.uniform(-1, 1)), [32, 96, 96, 3]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), 'int32'), 10).toFloat() as tf.Tensor2D);
    const rng = createRng(2);
    for (const [name, ops] of backend === 'wasm' ? cases : cases.slice(-1)) {
      const ms = await timeMs(7, async () => {
        const out = augmentBatch(x, y, ops, rng, { range: [-1, 1] });
        await out.x.data(); // wait for the result, as a training step would
        tf.dispose([out.x, out.y]);
      });
      rows.push(`| ${backend} | ${name} | ${ms.toFixed(1)} |`);
    }
    tf.dispose([x, y]);
  }
  console.log('\n### augmentBatch, batch of 32 × 96 × 96 × 3\n');
  console.log('| backend | ops | ms / batch |');
  console.log('| --- | --- | ---: |');
  for (const row of rows) console.log(row);
}

console.log(`Node ${process.version}, ${availableParallelism()} CPUs`);
await benchDecode();
await benchAugment();
