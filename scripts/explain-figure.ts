/**
 * docs/screenshots/explain.png: `tl explain` on four test images of the quickstart's export, side
 * by side (a boot, a bag, trousers, and a sandal it takes for a sneaker). Train the quickstart first.
 *
 *   npx tsx scripts/explain-figure.ts [examples/runs/quickstart]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { explainImage, heatmapImage, loadModel } from '../src/executor/index.ts';

const root = join(import.meta.dirname, '..');
const SIDE = 192;
const model = await loadModel(process.argv[2] ?? join(root, 'examples/runs/quickstart'));
const images = ['boot/000.png', 'bag/001.png', 'trouser/000.png', 'sandal/002.png'].map((f) => readFileSync(join(root, 'examples/data/fashion-mini/test', f)));
const panels = await Promise.all(images.map(async (bytes) => heatmapImage(bytes, (await explainImage(model, bytes)).map, { minSide: SIDE })));
const gap = 8;
await sharp({ create: { width: 4 * SIDE + 3 * gap, height: SIDE, channels: 3, background: '#ffffff' } })
  .composite(panels.map((input, i) => ({ input, left: i * (SIDE + gap), top: 0 })))
  .png({ palette: true })
  .toFile(join(root, 'docs/screenshots/explain.png'));
