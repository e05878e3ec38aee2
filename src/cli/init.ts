/**
 * `tl init DATA [--out FILE]`: a first script for a folder of images, written from what the folder
 * holds (classes, how many images each, how large; train/val/test splits where they exist) with the
 * usual transfer-learning choices for that much data, each said in a comment beside it, so that the
 * first run works and the next edit is informed. It compiles as written (checked before it is
 * printed) and trains with `tl run`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { compile } from '../compile.ts';
import { hasErrors } from '../diagnostics/diagnostic.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import type { DataSurvey } from '../executor/data/survey.ts';
import { STARTER_MODELS, starterScript } from '../format/starter.ts';
import { UsageError } from './usage.ts';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a first script for a folder of images (class folders, or train/val/test splits of them)')
    .argument('<data>', 'the folder: one sub-folder of images per class, or train/ (and val/, test/) holding those')
    .option('-o, --out <file>', 'write the script to this file (default: print it)')
    .option('--force', 'with --out, replace a file that exists')
    .option('--model <name>', `the pretrained base: ${STARTER_MODELS.join(', ')}`, 'mobilenetv2')
    .action(async (data: string, opts: { out?: string; force?: boolean; model: string }) => {
      if (!STARTER_MODELS.includes(opts.model)) throw new UsageError(`--model must be one of ${STARTER_MODELS.join(', ')}, found '${opts.model}'`);
      if (opts.out && existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists; pass --force to replace it, or another --out`);
      const { surveyData, writtenFrom } = await import('../executor/data/survey.ts');
      let survey: DataSurvey;
      try {
        survey = await surveyData(resolve(data));
      } catch (err) {
        process.stderr.write(`tl init: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
        return;
      }
      const scriptDir = opts.out ? dirname(resolve(opts.out)) : process.cwd();
      const source = starterScript(writtenFrom(survey, scriptDir), { name: basename(opts.out ?? '', '.tl') || basename(resolve(data)), model: opts.model });
      const { diagnostics } = compile(source);
      // A script TL wrote that TL refuses is TL's bug: say so rather than hand it over.
      if (hasErrors(diagnostics)) throw new Error(`tl init wrote a script with errors (please report it):\n${formatDiagnostics(diagnostics, { file: 'init.tl', source })}`);
      if (!opts.out) return void process.stdout.write(source);
      writeFileSync(opts.out, source);
      process.stderr.write(`wrote ${opts.out}; train with: tl run ${opts.out}\n`);
    });
}
