/**
 * `tl evaluate MODEL DATA`: scores a model `tl run` exported on labelled images (class folders, a
 * csv manifest or an IDX file): accuracy, top-5 and loss, each class's precision and recall, the
 * classes it takes for others most often and the images it is most wrong about. With --server, the
 * model a job exported there, scored there as a job of its own (its data under the server's data root).
 */
import type { Command } from 'commander';
import { printable } from '../diagnostics/printable.ts';
import { existsSync } from 'node:fs';
import type { Evaluation } from '../executor/evaluate-model.ts';
import type { ExportedModel } from '../executor/predict.ts';
import { evaluationReport, shown } from './evaluation-report.ts';
import { explainFiles } from './explain.ts';
import { clientFailure, follow, serverOption } from './follow.ts';
import { backendOption, UsageError } from './usage.ts';

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description('score a model exported by tl run on labelled images: accuracy, per-class precision and recall, what it confuses, its worst mistakes')
    .argument('<model>', "a folder written by a script's 'export'; with --server, the id of the job that exported it")
    .argument('<data>', 'labelled images: one sub-folder per class, a path,label .csv manifest, or an IDX file (with --server, under its data root)')
    .option('--worst <n>', 'how many of the worst mistakes to list', '5')
    .option('--matrix', 'also print the confusion matrix')
    .option('--tta', "average each image's probabilities with its mirror image's")
    .option('--backend <name>', 'auto, tensorflow, webgpu, wasm or cpu', 'auto')
    .option('--json', 'print the evaluation as JSON (with --server: one event per line)')
    .option('--stop-on-corrupt', 'stop at the first unreadable image instead of skipping it')
    .option('--explain <dir>', "write each listed mistake's Grad-CAM map (where the model found the class it gave) into this folder, as tl explain")
    .option('--server <url>', 'evaluate on a tl serve, e.g. http://127.0.0.1:4000, as a job there')
    .option('--token <token>', 'with --server, the API token (default: $TL_API_TOKEN)')
    .action(async (model: string, data: string, opts: EvaluateFlags, cmd: Command) => {
      const worst = Number(opts.worst);
      if (!Number.isInteger(worst) || worst < 0) throw new UsageError(`--worst must be a whole number of at least 0, found '${opts.worst}'`);
      if (opts.server !== undefined) return void (process.exitCode = await onServer(cmd, model, data, worst, opts));
      const backend = backendOption(opts.backend);
      const { evaluateModel, loadModel } = await import('../executor/index.ts');
      let evaluation: Evaluation;
      let loaded: ExportedModel;
      try {
        loaded = await loadModel(model, { backend });
        evaluation = await evaluateModel(loaded, data, {
          worst,
          tta: opts.tta === true,
          onCorrupt: opts.stopOnCorrupt ? 'stop' : 'skip',
          warn: (message) => process.stderr.write(`warning: ${printable(message)}\n`),
        });
      } catch (err) {
        process.stderr.write(`tl evaluate: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(opts.json ? `${JSON.stringify(evaluation, null, 2)}\n` : printable(`${model} on ${data}: ${evaluationReport(evaluation, { matrix: opts.matrix === true })}`));
      if (opts.explain !== undefined) process.exitCode = await explainMistakes(loaded, evaluation, opts.explain, opts.json === true);
    });
}

/** `--explain`: the mistakes' maps, of the class the model gave each; an IDX file's images have no file of their own to show. */
async function explainMistakes(model: ExportedModel, evaluation: Evaluation, out: string, json: boolean): Promise<number> {
  const inIdx = (source: string) => /#\d+$/.test(source) && !existsSync(source);
  const files = evaluation.mistakes.map((m) => m.source).filter((source) => !inIdx(source)).map(shown);
  if (files.length < evaluation.mistakes.length) process.stderr.write('tl evaluate: the images of an IDX file have no files of their own; --explain maps only images in files\n');
  if (files.length === 0) return 0;
  process.stderr.write(`where the model found the class it gave each mistake (${out}):\n`);
  return (await explainFiles(model, files, { out, print: json ? process.stderr : process.stdout })) ? 0 : 1;
}

interface EvaluateFlags {
  readonly worst: string;
  readonly matrix?: boolean;
  readonly tta?: boolean;
  readonly backend: string;
  readonly json?: boolean;
  readonly stopOnCorrupt?: boolean;
  readonly explain?: string;
  readonly server?: string;
  readonly token?: string;
}

/** `--server`: an evaluation job of the model job `jobId` exported, followed to its report. Returns the exit code. */
async function onServer(cmd: Command, jobId: string, data: string, worst: number, opts: EvaluateFlags): Promise<number> {
  // The server picks the backend and skips unreadable images (each a warning event).
  const own = ['backend', 'stopOnCorrupt', 'explain'].filter((o) => cmd.getOptionValueSource(o) === 'cli');
  if (own.length) throw new UsageError(`${own.map((o) => `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}: an evaluation on a server runs on its backend, skips unreadable images and keeps its images there; drop ${own.length === 1 ? 'it' : 'them'}`);
  const client = serverOption(cmd, opts.server!, opts.token ?? process.env.TL_API_TOKEN);
  try {
    const { job, diagnostics } = await client.evaluate(jobId, data, { worst, tta: opts.tta === true });
    if (!job) {
      for (const d of diagnostics) process.stderr.write(`tl evaluate: ${d.code}: ${printable(d.message)}\n`);
      return 1;
    }
    if (!opts.json) process.stderr.write(`evaluating job ${jobId}'s model on ${printable(data)} as job ${job.id}\n`);
    return await follow(client, job.id, { json: opts.json === true, file: `job ${job.id}`, source: '', matrix: opts.matrix === true });
  } catch (err) {
    process.stderr.write(`tl evaluate: ${printable(clientFailure(err))}\n`);
    return 1;
  }
}
