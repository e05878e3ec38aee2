import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DataError, loadDataset } from '../../../src/executor/data/index.ts';
import { dataSpec, pixel, tempDir, writeClassTree, writeImage } from './fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

const load = (path: string, extra: Parameters<typeof dataSpec>[2] = {}, options: Partial<Parameters<typeof loadDataset>[1]> = {}) =>
  loadDataset(dataSpec('folder', path, extra), { baseDir: dir, imageSize: 8, seed: 1, ...options });

describe('loadDataset: folder', () => {
  it('decodes PNG, JPEG, WebP, GIF and TIFF, grayscale and RGBA, of any size, to square RGB', async () => {
    await writeImage(join(dir, 'd/a/1.png'), { color: [250, 0, 0], width: 30, height: 17 });
    await writeImage(join(dir, 'd/a/2.jpg'), { color: [0, 250, 0], width: 64, height: 64, format: 'jpeg' });
    await writeImage(join(dir, 'd/a/3.webp'), { color: [0, 0, 250], width: 5, height: 9, format: 'webp' });
    await writeImage(join(dir, 'd/b/4.png'), { color: [128, 128, 128], gray: true });
    await writeImage(join(dir, 'd/b/5.png'), { color: [10, 20, 240], alpha: 0.5 });
    await writeImage(join(dir, 'd/b/6.gif'), { color: [250, 250, 0], format: 'gif' });
    await writeImage(join(dir, 'd/b/nested/7.tiff'), { color: [0, 250, 250], format: 'tiff' });
    const data = await load('d');
    expect(data.classes).toEqual(['a', 'b']);
    expect(data.train.count).toBe(7);
    expect(data.train.size).toBe(8);
    expect([data.train.images.count, data.train.images.per]).toEqual([7, 8 * 8 * 3]);
    expect(Array.from(data.train.labels)).toEqual([0, 0, 0, 1, 1, 1, 1]);
    expect(data.train.sources.map((s) => s.slice(dir.length))).toEqual(['/d/a/1.png', '/d/a/2.jpg', '/d/a/3.webp', '/d/b/4.png', '/d/b/5.png', '/d/b/6.gif', '/d/b/nested/7.tiff']);
    const expected = [
      [250, 0, 0],
      [0, 250, 0],
      [0, 0, 250],
      [128, 128, 128],
      [10, 20, 240],
      [250, 250, 0],
      [0, 250, 250],
    ];
    expected.forEach((rgb, i) => {
      for (const p of [0, 27, 63]) pixel(data.train.images, i, p).forEach((v, c) => expect(Math.abs(v - rgb[c]!)).toBeLessThanOrEqual(6));
    });
    expect(data.val.count).toBe(0);
  });

  it('warns once about files that are not images, by their extensions', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    await writeFile(join(dir, 'd/a/notes.txt'), 'not an image');
    await writeFile(join(dir, 'd/b/README'), 'not an image either');
    const warnings: string[] = [];
    const data = await load('d', {}, { warn: (m) => warnings.push(m) });
    expect(data.train.count).toBe(4);
    expect(warnings).toEqual([`ignored 2 file(s) under '${join(dir, 'd')}' that are not images TL reads (.txt, no extension), e.g. '${join(dir, 'd/a/notes.txt')}'`]);
  });

  it("stretches with fit 'fill' and centre-crops with fit 'cover'", async () => {
    // 20x10: left half black, right half white.
    const pixels = Buffer.alloc(20 * 10 * 3);
    for (let y = 0; y < 10; y++) for (let x = 10; x < 20; x++) pixels.fill(255, (y * 20 + x) * 3, (y * 20 + x) * 3 + 3);
    await sharp(pixels, { raw: { width: 20, height: 10, channels: 3 } }).png().toFile(join(dir, 'half.png'));
    await writeClassTree(join(dir, 'd'), { other: 1 });
    await mkdir(join(dir, 'd/half'));
    await copyFile(join(dir, 'half.png'), join(dir, 'd/half/x.png'));
    const row = async (fit: 'fill' | 'cover') => {
      const data = await load('d', {}, { fit, imageSize: 10 });
      const i = data.classes.indexOf('half');
      return Array.from({ length: 10 }, (_, x) => pixel(data.train.images, i, 5 * 10 + x)[0]!);
    };
    const fill = await row('fill');
    const cover = await row('cover');
    // fill keeps both halves (5 dark, 5 light columns); cover keeps the middle 10 of 20 columns.
    expect(fill.slice(0, 4).every((v) => v < 30) && fill.slice(6).every((v) => v > 225)).toBe(true);
    expect(cover.slice(0, 2).every((v) => v < 30) && cover.slice(8).every((v) => v > 225)).toBe(true);
    expect(cover.slice(2, 5).every((v) => v < 30)).toBe(true);
  });

  it('warns about non-image files and loose images, and ignores hidden ones', async () => {
    await writeClassTree(join(dir, 'd'), { a: 1, b: 1 });
    await writeFile(join(dir, 'd/a/notes.txt'), 'hello');
    await writeFile(join(dir, 'd/.DS_Store'), '');
    await writeImage(join(dir, 'd/loose.png'), { color: [0, 0, 0] });
    const warnings: string[] = [];
    const data = await load('d', {}, { warn: (m) => warnings.push(m) });
    expect(data.train.count).toBe(2);
    expect(warnings.some((w) => w.includes('notes.txt') && w.includes('.txt'))).toBe(true);
    expect(warnings.some((w) => w.includes('loose.png'))).toBe(true);
    expect(warnings.join('\n')).not.toContain('DS_Store');
  });

  it('skips a corrupt image with a warning naming it and the reason', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    await writeFile(join(dir, 'd/a/broken.png'), Buffer.from('this is not a png at all'));
    const warnings: string[] = [];
    const data = await load('d', {}, { warn: (m) => warnings.push(m) });
    expect(data.train.count).toBe(4);
    expect(data.train.sources.some((s) => s.includes('broken'))).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(dir, 'd/a/broken.png'));
    expect(warnings[0]).toMatch(/: not an image, or not in a format TL reads \(JPEG, PNG, WebP, GIF, TIFF, AVIF\)$/);
  });

  it('says in words why an image cannot be read: empty, not an image, truncated, too large', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    const whole = await readFile(join(dir, 'd/a/000.png'));
    await writeFile(join(dir, 'd/a/empty.png'), '');
    await writeFile(join(dir, 'd/a/text.jpg'), 'hello');
    await writeFile(join(dir, 'd/b/cut.png'), whole.subarray(0, whole.length - 20));
    // A 43-byte GIF whose header claims 20000 × 20000 pixels (400 million, 1.2 GB as RGB): refused from the header.
    await writeFile(join(dir, 'd/b/huge.gif'), Buffer.from('47494638396120' + '4e204e800000000000000000' + '21f90405000000002c00000000204e204e0002024c01003b', 'hex'));
    const warnings: string[] = [];
    await load('d', {}, { warn: (m) => warnings.push(m) });
    // Images decode several at a time; the warnings come after, in list order (class a, then b; names sorted).
    expect(warnings.map((w) => w.replace(/^skipped image '.*\/(\w+\.\w+)': /, '$1: '))).toEqual([
      'empty.png: the file is empty',
      'text.jpg: not an image, or not in a format TL reads (JPEG, PNG, WebP, GIF, TIFF, AVIF)',
      expect.stringMatching(/^cut\.png: the image is truncated or damaged/),
      'huge.gif: the image is 20000 × 20000 pixels, more than the 268 million pixels TL decodes; scale it down first',
    ]);
  });

  it('skips a device and a named pipe among the images without waiting on them', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    await symlink('/dev/zero', join(dir, 'd/a/zero.png'));
    execFileSync('mkfifo', [join(dir, 'd/b/pipe.png')]);
    const warnings: string[] = [];
    const data = await load('d', {}, { warn: (m) => warnings.push(m) });
    expect(data.train.count).toBe(4);
    expect(warnings.map((w) => w.replace(/^skipped image '.*\/(\w+\.\w+)': /, '$1: '))).toEqual([
      'zero.png: it is a character device, not a regular file',
      'pipe.png: it is a named pipe, not a regular file',
    ]);
  });

  it('names the first ten skipped images and counts the rest by reason in one warning', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    for (let i = 0; i < 14; i++) await writeFile(join(dir, `d/a/broken${String(i).padStart(2, '0')}.png`), 'garbage');
    await writeFile(join(dir, 'd/b/empty.png'), '');
    const warnings: string[] = [];
    const data = await load('d', {}, { warn: (m) => warnings.push(m) });
    expect(data.train.count + data.val.count).toBe(4);
    expect(warnings).toHaveLength(11);
    expect(warnings.slice(0, 10).map((w) => w.match(/'.*\/(\w+\.png)'/)?.[1])).toEqual(Array.from({ length: 10 }, (_, i) => `broken0${i}.png`));
    expect(warnings[10]).toBe(
      `skipped 5 more images of '${join(dir, 'd')}': 15 of its 19 images (79%) could not be read ` +
        '(not an image, or not in a format TL reads (JPEG, PNG, WebP, GIF, TIFF, AVIF): 14; the file is empty: 1)',
    );
  });

  it('warns on console.warn when no warn callback is given', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    await writeFile(join(dir, 'd/a/broken.png'), 'garbage');
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await load('d');
      expect(spy).toHaveBeenCalledWith(expect.stringContaining('broken.png'));
    } finally {
      spy.mockRestore();
    }
  });

  it("stops at a corrupt image with onCorrupt 'stop'", async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 2 });
    const broken = join(dir, 'd/b/broken.png');
    await writeFile(broken, Buffer.from('garbage'));
    const error = await load('d', {}, { onCorrupt: 'stop' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect(error).toMatchObject({ code: 'corrupt-image', path: broken });
    expect((error as Error).message).toContain(broken);
  });

  it('rejects a class whose only images are corrupt as empty', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2 });
    await mkdir(join(dir, 'd/b'));
    await writeFile(join(dir, 'd/b/x.png'), 'garbage');
    await expect(load('d', {}, { warn: () => {} })).rejects.toMatchObject({ code: 'empty-class', message: expect.stringContaining("class 'b'") });
  });

  it('rejects an empty class folder, naming it', async () => {
    await writeClassTree(join(dir, 'd'), { a: 2, b: 1 });
    await mkdir(join(dir, 'd/c'));
    await expect(load('d')).rejects.toMatchObject({ code: 'empty-class', path: join(dir, 'd/c'), message: expect.stringContaining(join(dir, 'd/c')) });
  });

  it('rejects a folder without class folders', async () => {
    await writeImage(join(dir, 'flat/1.png'), { color: [0, 0, 0] });
    await expect(load('flat')).rejects.toMatchObject({ code: 'no-classes', message: expect.stringMatching(/no class sub-folders \(it holds 1 images directly\)/) });
  });

  it('rejects a missing path and a file where a folder belongs', async () => {
    await expect(load('nope')).rejects.toMatchObject({ code: 'data-not-found', path: join(dir, 'nope'), message: `data folder '${join(dir, 'nope')}' does not exist; check the path (a relative one starts at the script's folder, or under tl serve at its data root)` });
    await writeImage(join(dir, 'file.png'), { color: [0, 0, 0] });
    await expect(load('file.png')).rejects.toMatchObject({ code: 'not-a-directory', path: join(dir, 'file.png') });
  });

  it('uses a val folder as validation data with the training classes', async () => {
    await writeClassTree(join(dir, 'train'), { cat: 3, dog: 2 });
    await writeClassTree(join(dir, 'val'), { cat: 1, dog: 2 });
    const data = await load('train', { val: 'val' });
    expect(data.classes).toEqual(['cat', 'dog']);
    expect([data.train.count, data.val.count]).toEqual([5, 3]);
    expect(Array.from(data.val.labels)).toEqual([0, 1, 1]);
  });

  it('rejects validation data that misses a class, naming the class', async () => {
    await writeClassTree(join(dir, 'train'), { cat: 2, dog: 2, eel: 2 });
    await writeClassTree(join(dir, 'val'), { cat: 1, eel: 1 });
    await expect(load('train', { val: 'val' })).rejects.toMatchObject({ code: 'class-missing-from-val', message: expect.stringContaining("class 'dog'") });
  });

  it('rejects a validation class that is not a training class', async () => {
    await writeClassTree(join(dir, 'train'), { cat: 2, dog: 2 });
    await writeClassTree(join(dir, 'val'), { cat: 1, dog: 1, emu: 1 });
    await expect(load('train', { val: 'val' })).rejects.toMatchObject({ code: 'unknown-label', path: join(dir, 'val/emu') });
  });

  it('keeps the first limitPerClass images of each class', async () => {
    await writeClassTree(join(dir, 'd'), { a: 5, b: 2 });
    const data = await load('d', {}, { limitPerClass: 3 });
    expect(data.train.sources.map((s) => s.slice(dir.length))).toEqual(['/d/a/000.png', '/d/a/001.png', '/d/a/002.png', '/d/b/000.png', '/d/b/001.png']);
  });

  it('stops when aborted', async () => {
    await writeClassTree(join(dir, 'd'), { a: 3, b: 3 });
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(load('d', {}, { signal: controller.signal })).rejects.toThrow('cancelled');
  });
});
