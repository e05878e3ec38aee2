import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCsv } from '../../../src/executor/data/csv.ts';
import { DataError, loadDataset } from '../../../src/executor/data/index.ts';
import { dataSpec, pixel, tempDir, writeImage } from './fixtures.ts';

describe('parseCsv', () => {
  it('reads quoted fields with commas, doubled quotes and newlines, CRLF and a BOM, and skips blank lines', () => {
    const text = '\ufeffpath,label\r\n"a, b.png",cat\r\n\r\n  c.png , "say ""hi"""\n"multi\nline.png",dog\n';
    expect(parseCsv(text)).toEqual([
      { fields: ['path', 'label'], line: 1 },
      { fields: ['a, b.png', 'cat'], line: 2 },
      { fields: ['c.png', 'say "hi"'], line: 4 },
      { fields: ['multi\nline.png', 'dog'], line: 5 },
    ]);
  });

  it('reports the line of an unclosed quote and of text after a closing quote', () => {
    expect(() => parseCsv('path,label\nx.png,"cat\n')).toThrow(expect.objectContaining({ line: 2 }));
    expect(() => parseCsv('path,label\na,b\n"x.png"y,cat\n')).toThrow(expect.objectContaining({ line: 3 }));
  });
});

describe('loadDataset: csv', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeImage(join(dir, 'imgs/red 1.png'), { color: [250, 0, 0] });
    await writeImage(join(dir, 'imgs/green.jpg'), { color: [0, 250, 0], format: 'jpeg' });
    await writeImage(join(dir, 'imgs/blue.webp'), { color: [0, 0, 250], format: 'webp' });
  });
  afterEach(() => cleanup());

  const load = (file: string, extra: Parameters<typeof dataSpec>[2] = {}, options: { onCorrupt?: 'skip' | 'stop'; warn?: (m: string) => void } = {}) =>
    loadDataset(dataSpec('csv', file, extra), { baseDir: dir, imageSize: 6, seed: 1, ...options });

  it('loads a manifest with paths relative to its folder, extra columns and quoted fields', async () => {
    await writeFile(join(dir, 'imgs/train.csv'), 'id,label,path\n1,warm,"red 1.png"\n2,cool,green.jpg\n3,cool,blue.webp\n');
    const data = await load('imgs/train.csv');
    expect(data.classes).toEqual(['cool', 'warm']);
    expect(Array.from(data.train.labels)).toEqual([1, 0, 0]);
    expect(data.train.sources).toEqual([join(dir, 'imgs/red 1.png'), join(dir, 'imgs/green.jpg'), join(dir, 'imgs/blue.webp')]);
    expect(pixel(data.train.images, 0)).toEqual([250, 0, 0]);
  });

  it('names the line of a row with the wrong number of fields', async () => {
    await writeFile(join(dir, 'm.csv'), 'path,label\nimgs/green.jpg,cool\nimgs/red 1.png,warm,extra\n');
    const error = await load('m.csv').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect(error).toMatchObject({ code: 'bad-manifest', path: join(dir, 'm.csv'), line: 3 });
    expect((error as Error).message).toMatch(/m\.csv:3: expected 2 fields like the header, found 3/);
  });

  it('rejects a manifest without a path,label header, and an empty label', async () => {
    await writeFile(join(dir, 'h.csv'), 'file,class\nimgs/green.jpg,cool\n');
    await expect(load('h.csv')).rejects.toMatchObject({ code: 'bad-manifest', line: 1 });
    await writeFile(join(dir, 'e.csv'), 'path,label\nimgs/green.jpg,cool\nimgs/blue.webp,\n');
    await expect(load('e.csv')).rejects.toMatchObject({ code: 'bad-manifest', line: 3, message: expect.stringContaining('label is empty') });
  });

  it('skips a listed file that is missing, or stops naming its line', async () => {
    await writeFile(join(dir, 'm.csv'), 'path,label\nimgs/green.jpg,cool\nimgs/gone.png,cool\nimgs/red 1.png,warm\n');
    const warnings: string[] = [];
    const data = await load('m.csv', {}, { warn: (m) => warnings.push(m) });
    expect(data.train.count).toBe(2);
    expect(warnings[0]).toContain(`${join(dir, 'm.csv')}:3`);
    expect(warnings[0]).toContain('file not found');
    await expect(load('m.csv', {}, { onCorrupt: 'stop' })).rejects.toMatchObject({ code: 'data-not-found', line: 3 });
  });

  it('checks a validation manifest against the training classes', async () => {
    await writeFile(join(dir, 'train.csv'), 'path,label\nimgs/green.jpg,cool\nimgs/red 1.png,warm\n');
    await writeFile(join(dir, 'val.csv'), 'path,label\nimgs/blue.webp,cool\nimgs/red 1.png,warm\n');
    const data = await load('train.csv', { val: 'val.csv' });
    expect(Array.from(data.val.labels)).toEqual([0, 1]);

    await writeFile(join(dir, 'val2.csv'), 'path,label\nimgs/blue.webp,cool\nimgs/red 1.png,hot\n');
    await expect(load('train.csv', { val: 'val2.csv' })).rejects.toMatchObject({ code: 'unknown-label', line: 3, message: expect.stringContaining("'hot'") });
    await writeFile(join(dir, 'val3.csv'), 'path,label\nimgs/blue.webp,cool\n');
    await expect(load('train.csv', { val: 'val3.csv' })).rejects.toMatchObject({ code: 'class-missing-from-val', message: expect.stringContaining("class 'warm'") });
  });

  it('rejects a missing manifest and a folder given as one', async () => {
    await expect(load('none.csv')).rejects.toMatchObject({ code: 'data-not-found', path: join(dir, 'none.csv') });
    await expect(load('imgs')).rejects.toMatchObject({ code: 'bad-manifest', path: join(dir, 'imgs') });
  });

  it('refuses a manifest that is a device at once, instead of reading it forever', async () => {
    await symlink('/dev/zero', join(dir, 'zero.csv'));
    await expect(load('zero.csv')).rejects.toMatchObject({
      code: 'bad-manifest',
      message: `manifest '${join(dir, 'zero.csv')}' cannot be read: it is a character device, not a regular file; point format csv at a .csv file`,
    });
  });
});
