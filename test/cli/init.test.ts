/**
 * `tl init`: a first script from a real folder of images, that `tl check` passes and `tl run`
 * trains; its choices by how much data there is; and what it says of a folder it cannot use.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { starterScript } from '../../src/format/starter.ts';
import { compile } from '../../src/compile.ts';
import { hasErrors } from '../../src/diagnostics/diagnostic.ts';
import { root } from '../service/helpers.ts';

function tl(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [join(root, 'bin/tl.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `dir/<split>/<class>/` with `counts[class]` real Fashion-MNIST PNGs each. */
function images(dir: string, counts: Record<string, number>): void {
  for (const [cls, n] of Object.entries(counts)) {
    const from = join(root, 'examples/data/fashion-mini/train', cls);
    mkdirSync(join(dir, cls), { recursive: true });
    for (const f of readdirSync(from).sort().slice(0, n)) copyFileSync(join(from, f), join(dir, cls, f));
  }
}

describe('tl init', () => {
  it('writes a script for train/val/test folders that tl check passes and tl run trains', () => {
    const work = mkdtempSync(join(tmpdir(), 'tl-init-'));
    images(join(work, 'photos', 'train'), { bag: 8, boot: 8, coat: 8 });
    images(join(work, 'photos', 'val'), { bag: 2, boot: 2, coat: 2 });
    images(join(work, 'photos', 'Test'), { bag: 2, boot: 2, coat: 2 });
    const made = tl(['init', 'photos', '--out', 'photos.tl'], work);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toBe('wrote photos.tl; train with: tl run photos.tl\n');
    const script = readFileSync(join(work, 'photos.tl'), 'utf8');
    expect(script).toMatch(/^# Written by tl init from photos\/train: 3 classes, 24 images \(8 a class\), shorter side about 28 px \(median of 24\)\.\n/);
    expect(script).toContain('\nuse mobilenetv2 input 96 ');
    expect(script).toContain('\ndata "photos/train" val "photos/val"\n');
    expect(script).toContain('\nphase finetune unfreeze block5 ');
    expect(script).toContain('\nevaluate "photos/Test"\nexport "runs/photos"\n');
    expect(tl(['check', 'photos.tl'], work).code).toBe(0);
    const run = tl(['run', 'photos.tl', '--backend', 'wasm', '--json'], work);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'jobFinished', exportPath: join(work, 'runs/photos') });
    expect(existsSync(join(work, 'runs/photos/model.json'))).toBe(true);
    // Printed where no --out is given, with paths from the working folder; an existing file is not replaced.
    const printed = tl(['init', join(work, 'photos')], join(work, 'photos'));
    expect(printed.stdout).toContain('\ndata "train" val "val"\n');
    expect(printed.stdout).toContain('\nexport "runs/photos"\n');
    const again = tl(['init', 'photos', '--out', 'photos.tl'], work);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('photos.tl exists; pass --force to replace it');
  }, 180_000);

  it('holds out a fifth of each class without a val folder, and balances classes that differ 5 to 1 or more', () => {
    const work = mkdtempSync(join(tmpdir(), 'tl-init-'));
    images(join(work, 'flat'), { bag: 20, boot: 4 });
    const r = tl(['init', 'flat'], work);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('\ndata "flat" split 0.2 balance   # balance: the classes differ 5 to 1\n');
    expect(r.stdout).not.toContain('evaluate');
  });

  it('unfreezes more of the base, at rates falling with depth, the more images a class has', () => {
    const survey = (n: number) => ({ train: 'd/train', val: null, test: null, classes: [{ name: 'a', images: n }, { name: 'b', images: n }], shortSide: 500, sampled: 48 });
    const phase = (n: number) => {
      const source = starterScript(survey(n), { name: 'd' });
      expect(hasErrors(compile(source).diagnostics), source).toBe(false);
      return source.split('\n').find((l) => l.startsWith('phase'))!.replace(/ {3}#.*$/, '');
    };
    expect(phase(60)).toBe('phase finetune unfreeze block5 lr 3e-4 epochs 5');
    expect(phase(600)).toBe('phase finetune unfreeze block5 lr 3e-4 epochs 5');
    expect(phase(1200)).toBe('phase finetune unfreeze block5 lr 3e-4 epochs 5');
    expect(phase(1250)).toBe('phase finetune unfreeze all decay 0.5 lr 3e-4 epochs 5');
    expect(starterScript(survey(60), { name: 'd' })).toContain('\nuse mobilenetv2 input 224 ');
    // Another base: its own weights line, its input up to its own size.
    expect(starterScript(survey(60), { name: 'd', model: 'resnet50' })).toContain('\nuse resnet50 input 224   # its ImageNet weights: tl weights fetch resnet50 (once); ');
    expect(starterScript(survey(60), { name: 'd', model: 'inceptionv3' })).toContain('\nuse inceptionv3 input 299   # its pretrained weights come with TL; ');
    expect(starterScript({ ...survey(60), shortSide: 250 }, { name: 'd', model: 'inceptionv3' })).toContain('\nuse inceptionv3 input 224 ');
    expect(starterScript({ ...survey(60), shortSide: 28 }, { name: 'd', model: 'inceptionv3' })).toContain('\nuse inceptionv3 input 96 ');
    for (const model of ['mobilenetv2', 'inceptionv3', 'resnet50', 'vgg16']) expect(hasErrors(compile(starterScript(survey(600), { name: 'd', model })).diagnostics), model).toBe(false);
    expect(() => starterScript(survey(60), { name: 'd', model: 'tiny' })).toThrow("no pretrained model 'tiny'; tl init writes scripts for mobilenetv2, inceptionv3, resnet50, vgg16");
    // A folder's name is written as a string the compiler reads back as the same name.
    const odd = starterScript({ ...survey(60), train: 'my "photos"\t\\2024', test: 'ünïcode/test' }, { name: 'd' });
    expect(compile(odd).plan).toMatchObject({ data: { path: 'my "photos"\t\\2024' }, evaluate: { path: 'ünïcode/test' } });
  });

  it('says what is wrong with a folder it cannot use, and exits 1', () => {
    const work = mkdtempSync(join(tmpdir(), 'tl-init-'));
    expect(tl(['init', 'anything', '--model', 'resnet5O'], work)).toMatchObject({ code: 2, stderr: "tl: --model must be one of mobilenetv2, inceptionv3, resnet50, vgg16, found 'resnet5O'\n" });
    expect(tl(['init', 'nowhere'], work)).toMatchObject({ code: 1, stderr: `tl init: data folder '${join(work, 'nowhere')}' does not exist; check the path (a relative one starts at the script's folder, or under tl serve at its data root)\n` });
    writeFileSync(join(work, 'a.png'), 'x');
    expect(tl(['init', 'a.png'], work).stderr).toContain("is a file, but a folder was expected");
    mkdirSync(join(work, 'empty'));
    expect(tl(['init', 'empty'], work).stderr).toContain(`data folder '${join(work, 'empty')}' has no class sub-folders; put each class's images in`);
    images(join(work, 'single'), { bag: 3 });
    expect(tl(['init', 'single'], work).stderr).toBe(`tl init: data folder '${join(work, 'single')}' has a single class ('bag'); a classifier needs at least two: add a folder of images of another class\n`);
    images(join(work, 'holes'), { bag: 3 });
    mkdirSync(join(work, 'holes', 'boot'));
    expect(tl(['init', 'holes'], work)).toMatchObject({ code: 1, stderr: `tl init: class folder 'boot' in '${join(work, 'holes')}' holds no images; add some or remove it\n` });
  });
});
