import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadUnlabeled } from '../../../src/executor/data/index.ts';
import { pixel, tempDir, writeClassTree, writeImage } from './fixtures.ts';

describe('loadUnlabeled', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('loads a flat folder without labels', async () => {
    await writeImage(join(dir, 't/b.jpg'), { color: [0, 250, 0], format: 'jpeg' });
    await writeImage(join(dir, 't/a.png'), { color: [250, 0, 0], gray: true });
    await writeImage(join(dir, 't/more/c.webp'), { color: [0, 0, 250], format: 'webp' });
    const set = await loadUnlabeled('t', { baseDir: dir, imageSize: 5 });
    expect(set.count).toBe(3);
    expect(set.labels).toBeNull();
    expect(set.classes).toBeNull();
    expect(set.sources.map((s) => s.slice(dir.length))).toEqual(['/t/a.png', '/t/b.jpg', '/t/more/c.webp']);
    const [r, g, b] = pixel(set.images, 0);
    expect(r).toBe(g);
    expect(g).toBe(b);
  });

  it('loads a class tree, returning its labels, and respects limit', async () => {
    await writeClassTree(join(dir, 't'), { x: 3, y: 2 });
    const set = await loadUnlabeled(join(dir, 't'), { baseDir: '/elsewhere', imageSize: 4, limit: 2 });
    expect(set.classes).toEqual(['x', 'y']);
    expect(Array.from(set.labels ?? [])).toEqual([0, 0, 1, 1]);
  });

  it('skips corrupt images with a warning and rejects an empty or missing folder', async () => {
    await writeImage(join(dir, 't/a.png'), { color: [1, 2, 3] });
    await writeFile(join(dir, 't/z.png'), 'nope');
    const warnings: string[] = [];
    const set = await loadUnlabeled('t', { baseDir: dir, imageSize: 4, warn: (m) => warnings.push(m) });
    expect(set.count).toBe(1);
    expect(warnings[0]).toContain(join(dir, 't/z.png'));
    await mkdir(join(dir, 'empty'));
    await expect(loadUnlabeled('empty', { baseDir: dir, imageSize: 4 })).rejects.toMatchObject({ code: 'no-classes' });
    await expect(loadUnlabeled('missing', { baseDir: dir, imageSize: 4 })).rejects.toMatchObject({ code: 'data-not-found' });
  });
});
