/**
 * Scoring an exported model on labelled images (`tl evaluate`), in the three formats `data` reads,
 * against what the run that exported it measured on the same images.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { evaluateModel, type Evaluation } from '../../src/executor/evaluate-model.ts';
import type { FinalMetrics } from '../../src/executor/events.ts';
import { loadExported, predictFiles, type ExportedModel } from '../../src/executor/predict.ts';
import { runPlan } from '../../src/executor/run.ts';
import { idxBytes } from './data/fixtures.ts';

const fashion = join(import.meta.dirname, '..', '..', 'examples/data/fashion-mini');
// Three classes a small model confuses, so that there are mistakes to list; named 0, 1, 2 as an IDX file's are.
const CLASSES = ['coat', 'pullover', 'shirt'];

/** The fashion-mini images of CLASSES as class folders `0`, `1`, `2`, and as IDX images + labels files. */
async function writeSplit(dir: string, split: 'train' | 'test', idxName: string): Promise<void> {
  const pixels: number[] = [];
  const labels: number[] = [];
  for (const [label, cls] of CLASSES.entries()) {
    const from = join(fashion, split, cls);
    cpSync(from, join(dir, split, String(label)), { recursive: true });
    for (const file of readdirSync(from).sort()) {
      pixels.push(...(await sharp(join(from, file)).greyscale().raw().toBuffer()));
      labels.push(label);
    }
  }
  writeFileSync(join(dir, `${idxName}-images-idx3-ubyte`), idxBytes([labels.length, 28, 28], pixels));
  writeFileSync(join(dir, `${idxName}-labels-idx1-ubyte`), idxBytes([labels.length], labels));
}

describe('evaluateModel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tl-evaluate-'));
  let model: ExportedModel;
  let final: FinalMetrics;

  beforeAll(async () => {
    await writeSplit(dir, 'train', 'train');
    await writeSplit(dir, 'test', 't10k');
    // The run trains on one IDX file and scores another with `evaluate`, as Fashion-MNIST comes.
    const { plan } = compile('use tiny input 32\nfreeze none\ndata "train-images-idx3-ubyte" split 0.2\nepochs 2\nevaluate "t10k-images-idx3-ubyte"\nexport "model"');
    expect(plan!.evaluate!.format).toBe('idx');
    const result = await runPlan(plan!, { baseDir: dir, runDir: join(dir, 'state'), backend: 'wasm' });
    final = result.metrics!;
    model = await loadExported(result.exportPath!);
  }, 120_000);

  it("agrees with the run's own evaluation of the same IDX file", async () => {
    const e = await evaluateModel(model, join(dir, 't10k-images-idx3-ubyte'));
    expect(e.images).toBe(30);
    expect(e.classes).toEqual(['0', '1', '2']);
    expect(e.accuracy).toBeCloseTo(final.testAccuracy!, 6);
    expect(e.confusion).toEqual(final.confusion);
    expect(e.perClass).toEqual(final.perClass);
    // Named with .gz, the file is read without, as data reads it.
    expect((await evaluateModel(model, join(dir, 't10k-images-idx3-ubyte.gz'))).accuracy).toBe(e.accuracy);
    // Three classes: top-5 means nothing.
    expect(e.top5).toBeNull();
  });

  it('reads class folders and a csv manifest of the same images alike, relative to baseDir', async () => {
    const rows = CLASSES.flatMap((_, label) => readdirSync(join(dir, 'test', String(label))).map((f) => `test/${label}/${f},${label}`));
    writeFileSync(join(dir, 'test.csv'), `path,label\n${rows.join('\n')}\n`);
    const folder = await evaluateModel(model, 'test', { baseDir: dir });
    const csv = await evaluateModel(model, 'test.csv', { baseDir: dir });
    expect(folder.images).toBe(30);
    expect(csv).toEqual({ ...folder, mistakes: csv.mistakes });
    expect(csv.mistakes.map((m) => m.truthProbability)).toEqual(folder.mistakes.map((m) => m.truthProbability));
  });

  it('lists the confused pairs and the worst mistakes, each as tl predict ranks that image', async () => {
    const e: Evaluation = await evaluateModel(model, join(dir, 'test'), { worst: 100 });
    const wrong = e.images - e.confusion.reduce((n, row, t) => n + row[t]!, 0);
    // The run is short and the classes alike: there are mistakes to list.
    expect(wrong).toBeGreaterThan(0);
    expect(e.confusion.flat().reduce((a, b) => a + b, 0)).toBe(e.images);
    expect(e.confused.reduce((n, c) => n + c.count, 0)).toBe(wrong);
    expect(e.confused.every((c, i) => c.truth !== c.predicted && (i === 0 || e.confused[i - 1]!.count >= c.count))).toBe(true);
    expect(e.mistakes).toHaveLength(wrong);
    expect(e.mistakes.every((m, i) => i === 0 || e.mistakes[i - 1]!.truthProbability <= m.truthProbability)).toBe(true);
    const ranked = await predictFiles(model, e.mistakes.map((m) => m.source), 3);
    e.mistakes.forEach((m, i) => {
      const top = ranked[i]!.top;
      expect(m.truth).not.toBe(m.predicted);
      expect(m.source).toContain(join('test', m.truth));
      expect(top[0]!.label).toBe(m.predicted);
      expect(top[0]!.probability).toBeCloseTo(m.probability, 4);
      expect(top.find((t) => t.label === m.truth)!.probability).toBeCloseTo(m.truthProbability, 4);
    });
    expect((await evaluateModel(model, join(dir, 'test'), { worst: 2 })).mistakes).toEqual(e.mistakes.slice(0, 2));
    expect((await evaluateModel(model, join(dir, 'test'), { worst: 0 })).mistakes).toEqual([]);
    await expect(evaluateModel(model, join(dir, 'test'), { worst: -1 })).rejects.toThrow(RangeError);
    // A cancel stops it while it reads the images.
    const controller = new AbortController();
    controller.abort(new Error('stop here'));
    await expect(evaluateModel(model, join(dir, 'test'), { signal: controller.signal })).rejects.toThrow('stop here');
  });

  it('skips an unreadable image with a warning, and names a class the model does not know', async () => {
    mkdirSync(join(dir, 'more', '1'), { recursive: true });
    cpSync(join(dir, 'test', '1'), join(dir, 'more', '1'), { recursive: true });
    writeFileSync(join(dir, 'more', '1', 'broken.png'), 'not a png');
    const warnings: string[] = [];
    const e = await evaluateModel(model, join(dir, 'more'), { warn: (w) => warnings.push(w) });
    // A set may hold fewer classes than the model knows: the others have no images.
    expect(e.images).toBe(10);
    expect(e.perClass.map((c) => c.support)).toEqual([0, 10, 0]);
    expect(warnings.join('\n')).toContain('broken.png');
    await expect(evaluateModel(model, join(dir, 'more'), { onCorrupt: 'stop' })).rejects.toThrow(/broken\.png/);

    cpSync(join(fashion, 'test', 'bag'), join(dir, 'more', 'bag'), { recursive: true });
    await expect(evaluateModel(model, join(dir, 'more'), { warn: () => {} })).rejects.toMatchObject({
      code: 'unknown-label',
      message: `${join(dir, 'more')} has classes the model was not trained on: bag; it knows 0, 1, 2`,
    });
    await expect(evaluateModel(model, join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'data-not-found', message: `${join(dir, 'nowhere')} does not exist` });
    await expect(evaluateModel(model, 'nowhere', { baseDir: dir })).rejects.toMatchObject({ message: `${join(dir, 'nowhere')} does not exist (nowhere, from ${dir})` });
  });
});
