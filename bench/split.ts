/**
 * Memory and time of splitting decoded images into training and validation, as loadDataset does
 * (after decoding, and again after skipping unreadable images): the pixels the split hands out.
 *
 *   npx tsx bench/split.ts [--images 20000] [--size 224]
 *
 * Prints a markdown table: the decoded bytes, resident memory after decoding and after the split,
 * the process's peak, and the split's time. The images are written byte by byte first, as decoding
 * writes them, so their pages are resident.
 */
import { Pixels, stratifiedSplit, subset } from '../src/executor/data/index.ts';
import { numberOption } from './args.ts';

const count = numberOption('images', 20_000);
const size = numberOption('size', 224);
const per = size * size * 3;
const gb = (bytes: number) => (bytes / 1e9).toFixed(2);
const rss = () => process.memoryUsage().rss;

const images = Pixels.alloc(count, per);
for (let i = 0; i < count; i++) images.image(i).fill(i % 251);
const labels = Int32Array.from({ length: count }, (_, i) => i % 10);
const set = { images, labels, count, size, sources: Array.from({ length: count }, (_, i) => `${i}.png`) };
const decoded = rss();
const t = performance.now();
const split = stratifiedSplit(labels, 10, 0.2, 1);
const train = subset(set, split.train);
const val = subset(set, split.val);
const ms = performance.now() - t;
const after = rss();
// Every image still reads as written: the split moved none of them.
const wrong = [...split.train].filter((i, k) => train.images.image(k)[per - 1] !== i % 251).length + [...split.val].filter((i, k) => val.images.image(k)[0] !== i % 251).length;
if (wrong > 0) throw new Error(`${wrong} images read back wrong after the split`);

console.log(`Split of ${count.toLocaleString('en-US')} decoded images of ${size} px (${gb(count * per)} GB) into ${train.count.toLocaleString('en-US')} training and ${val.count.toLocaleString('en-US')} validation images\n`);
console.log('| decoded GB | RSS after decoding, GB | RSS after the split, GB | peak RSS, GB | split ms |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
console.log(`| ${gb(count * per)} | ${gb(decoded)} | ${gb(after)} | ${gb(process.resourceUsage().maxRSS * 1024)} | ${ms.toFixed(0)} |`);
