/**
 * `tl init DATA [--out FILE]`: a first script for a folder of images, written from what the folder
 * holds (classes, how many images each, how large; train/val/test splits where they exist) with the
 * usual transfer-learning choices for that much data, each said in a comment beside it, so that the
 * first run works and the next edit is informed. It compiles as written (checked before it is
 * printed) and trains with `tl run`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { compile } from '../compile.ts';
import { hasErrors } from '../diagnostics/diagnostic.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import type { DataSurvey } from '../executor/data/survey.ts';
import { UsageError } from './usage.ts';

/** MobileNetV2's input sizes by the images' shorter side: no larger than the detail there is (upscaling adds none), and small ones train fast on a CPU. */
function inputFor(side: number | null): number {
  if (side === null || side > 200) return 224;
  if (side > 144) return 160;
  if (side > 64) return 128;
  return 96;
}

/** A path as the script writes it: relative to the script's folder, forward slashes. */
function scriptPath(path: string, scriptDir: string): string {
  const rel = relative(scriptDir, path) || '.';
  return rel.split('\\').join('/');
}

/**
 * The script for `survey`, with its paths relative to `scriptDir` (where it will be saved, or the
 * working folder when it is printed) and its export under `runs/NAME`.
 */
export function starterScript(survey: DataSurvey, o: { readonly scriptDir: string; readonly name: string }): string {
  const counts = survey.classes.map((c) => c.images);
  const total = counts.reduce((a, n) => a + n, 0);
  const [least, most] = [Math.min(...counts), Math.max(...counts)];
  // Training images: all of them with a val folder, else the 80% the split leaves.
  const kept = survey.val ? 1 : 0.8;
  const perClass = Math.round(least * kept);
  // The head learns from scratch: about 300 steps of batch 32, which on cached features take seconds.
  const headEpochs = Math.min(50, Math.max(10, Math.ceil(300 / Math.ceil((total * kept) / 32))));
  const input = inputFor(survey.shortSide);
  const balance = least > 0 && most >= 5 * least;
  const q = (p: string) => JSON.stringify(scriptPath(p, o.scriptDir));
  const size = survey.shortSide === null ? 'sizes unknown' : `shorter side about ${survey.shortSide} px (median of ${survey.sampled})`;
  const finetune =
    perClass < 100
      ? { line: 'phase finetune unfreeze block5 lr 3e-4 epochs 5', why: `few images a class (${perClass} to train on): only the last block adapts, at under a third of the head's rate` }
      : perClass < 1000
        ? { line: 'phase finetune unfreeze block4, block5 decay 0.3 lr 3e-4 epochs 5', why: `${perClass}+ images a class: the last two blocks adapt, block4 at 0.3 of block5's rate` }
        : { line: 'phase finetune unfreeze all decay 0.5 lr 3e-4 epochs 5', why: `${perClass}+ images a class: the whole base adapts, each block at half the rate of the one above` };
  const lines = [
    `# Written by tl init from ${scriptPath(survey.train, o.scriptDir)}: ${survey.classes.length} classes, ${total.toLocaleString('en-US')} images (${least === most ? least.toLocaleString('en-US') : `${least.toLocaleString('en-US')} to ${most.toLocaleString('en-US')}`} a class), ${size}.`,
    `use mobilenetv2 input ${input}   # its pretrained weights come with TL; ${survey.shortSide !== null && survey.shortSide < input ? `the images are smaller than ${input} px: a larger input adds time, not detail` : `input ${input}: about the detail the images have, and quick to train`}`,
    `data ${q(survey.train)}${survey.val ? ` val ${q(survey.val)}` : ' split 0.2'}${balance ? ' balance' : ''}${balance ? `   # balance: the classes differ ${Math.round(most / least)} to 1` : survey.val ? '' : '   # a fifth of each class held out to validate'}`,
    'head dropout 0.2',
    `epochs ${headEpochs}   # the new head alone first, about 300 steps on the frozen base's features (computed once: fast)`,
    'lr 1e-3',
    'batch 32',
    `# augment flip, rotate 10, zoom 0.1   # more variety for little data; drop flip where left and right differ (text, digits); the frozen base then runs at every step`,
    `${finetune.line}   # ${finetune.why}; 'lr auto' searches the rate instead (100 steps)`,
    ...(survey.test ? [`evaluate ${q(survey.test)}`] : []),
    `export "runs/${o.name}"`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a first script for a folder of images (class folders, or train/val/test splits of them)')
    .argument('<data>', 'the folder: one sub-folder of images per class, or train/ (and val/, test/) holding those')
    .option('-o, --out <file>', 'write the script to this file (default: print it)')
    .option('--force', 'with --out, replace a file that exists')
    .action(async (data: string, opts: { out?: string; force?: boolean }) => {
      if (opts.out && existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists; pass --force to replace it, or another --out`);
      const { surveyData } = await import('../executor/data/survey.ts');
      let survey: DataSurvey;
      try {
        survey = await surveyData(resolve(data));
      } catch (err) {
        process.stderr.write(`tl init: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
        return;
      }
      const empty = survey.classes.filter((c) => c.images === 0).map((c) => `'${c.name}'`);
      if (empty.length) {
        process.stderr.write(`tl init: ${printable(`class folder${empty.length > 1 ? 's' : ''} ${empty.join(', ')} in '${survey.train}' hold${empty.length > 1 ? '' : 's'} no images; add some or remove ${empty.length > 1 ? 'them' : 'it'}`)}\n`);
        process.exitCode = 1;
        return;
      }
      const scriptDir = opts.out ? dirname(resolve(opts.out)) : process.cwd();
      const name = basename(opts.out ?? '', '.tl') || basename(resolve(data)) || 'model';
      const source = starterScript(survey, { scriptDir, name: name.replace(/[^A-Za-z0-9._-]/g, '-') });
      const { diagnostics } = compile(source);
      // A script TL wrote that TL refuses is TL's bug: say so rather than hand it over.
      if (hasErrors(diagnostics)) throw new Error(`tl init wrote a script with errors (please report it):\n${formatDiagnostics(diagnostics, { file: 'init.tl', source })}`);
      if (!opts.out) return void process.stdout.write(source);
      writeFileSync(opts.out, source);
      process.stderr.write(`wrote ${opts.out}; train with: tl run ${opts.out}\n`);
    });
}
