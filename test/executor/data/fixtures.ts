import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import type { Pixels } from '../../../src/executor/data/index.ts';
import type { DataSource } from '../../../src/executor/data/index.ts';

export type Rgb = readonly [number, number, number];

/** A fresh temp folder; `cleanup` removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tl-data-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

type Format = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff';

/** Writes a solid-colour image (optionally grayscale or with alpha) in a real encoded format. */
export async function writeImage(
  path: string,
  options: { color: Rgb; width?: number; height?: number; format?: Format; gray?: boolean; alpha?: number },
): Promise<string> {
  const { color, width = 20, height = 16, format = 'png', gray = false, alpha } = options;
  await mkdir(dirname(path), { recursive: true });
  let image = sharp({
    create: {
      width,
      height,
      channels: alpha === undefined ? 3 : 4,
      background: { r: color[0], g: color[1], b: color[2], ...(alpha === undefined ? {} : { alpha }) },
    },
  });
  if (gray) image = image.toColourspace('b-w');
  await writeFile(path, await image.toFormat(format).toBuffer());
  return path;
}

/** Writes `count` images per class under root/<class>/, each class its own colour. */
export async function writeClassTree(root: string, perClass: Record<string, number>): Promise<void> {
  const palette: Rgb[] = [
    [250, 10, 10],
    [10, 250, 10],
    [10, 10, 250],
    [200, 200, 10],
    [10, 200, 200],
  ];
  const names = Object.keys(perClass);
  for (const [k, name] of names.entries()) {
    for (let i = 0; i < perClass[name]!; i++) {
      await writeImage(join(root, name, `${String(i).padStart(3, '0')}.png`), { color: palette[k % palette.length]!, width: 12, height: 10 });
    }
  }
}

export function dataSpec(format: DataSource['format'], path: string, extra: Partial<Pick<DataSource, 'split' | 'val'>> = {}): DataSource {
  return { format, path, split: extra.split ?? 0, val: extra.val ?? null };
}

/** The RGB of pixel `p` of image `i`. */
export function pixel(images: Pixels, i: number, p = 0): number[] {
  return Array.from(images.image(i).subarray(p * 3, p * 3 + 3));
}

/** Big-endian IDX bytes of unsigned-byte data. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}
