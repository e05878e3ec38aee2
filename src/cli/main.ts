/**
 * The `tl` command line. Exit codes: 0 success (warnings allowed), 1 the script has errors or the
 * job failed, 2 usage errors (unknown command or option, unreadable file).
 */
import { Command, CommanderError } from 'commander';
import { compile } from '../compile.ts';
import { hasErrors } from '../diagnostics/diagnostic.ts';
import { diagnosticsToJson, formatDiagnostics } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import { format } from '../format/format.ts';
import { writeFileSync } from 'node:fs';
import { runCommand } from './run.ts';
import { registerEvaluate } from './evaluate.ts';
import { registerExplain } from './explain.ts';
import { registerFollow } from './follow.ts';
import { registerInit } from './init.ts';
import { registerLrFind } from './lr-find.ts';
import { backendOption, UsageError } from './usage.ts';
import { registerServe } from './serve.ts';
import { readScript } from './read-script.ts';
import { registerSubmit } from './submit.ts';
import { fetchWeightsCommand, listWeights } from './weights.ts';


function readSource(file: string): string {
  try {
    return readScript(file);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Runs `each` on every readable file of several, in order. An unreadable one is named on stderr and
 * the rest still run; the exit status is then 2, else the worst `each` returned (0 or 1).
 */
function forEachFile(files: readonly string[], each: (file: string, source: string) => 0 | 1): void {
  let status = 0;
  for (const file of files) {
    let source: string;
    try {
      source = readSource(file);
    } catch (err) {
      process.stderr.write(`tl: ${printable((err as Error).message)}\n`);
      status = 2;
      continue;
    }
    status = Math.max(status, each(file, source));
  }
  process.exitCode = status;
}

function report(file: string, source: string, diagnostics: Parameters<typeof formatDiagnostics>[0]): void {
  if (diagnostics.length === 0) return;
  process.stderr.write(`${formatDiagnostics(diagnostics, { file, source, color: process.stderr.isTTY === true })}\n`);
}

export function buildProgram(): Command {
  const program = new Command('tl')
    .description('TL: transfer learning as a language')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  // First in the help: where a user with their own images starts.
  registerInit(program);

  program
    .command('check')
    .description('check scripts and print their diagnostics')
    .argument('<files...>', '.tl scripts, or - for standard input')
    .option('--format <format>', 'text or json (one array, each diagnostic naming its file)', 'text')
    .action((files: string[], opts: { format: string }) => {
      if (opts.format !== 'text' && opts.format !== 'json') throw new UsageError(`--format must be text or json, found '${opts.format}'`);
      const found: ReturnType<typeof diagnosticsToJson> = [];
      forEachFile(files, (file, source) => {
        const { diagnostics } = compile(source);
        if (opts.format === 'json') found.push(...diagnosticsToJson(diagnostics, source, file));
        else {
          report(file, source, diagnostics);
          const errors = diagnostics.filter((d) => d.severity === 'error').length;
          const warnings = diagnostics.length - errors;
          process.stderr.write(`${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
        }
        return hasErrors(diagnostics) ? 1 : 0;
      });
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
    });

  program
    .command('plan')
    .description('compile a script and print its training plan as JSON')
    .argument('<file>', 'a .tl script, or - for standard input')
    .action((file: string) => {
      const source = readSource(file);
      const { plan, diagnostics } = compile(source);
      report(file, source, diagnostics);
      if (!plan) {
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    });

  program
    .command('fmt')
    .description('print a script in canonical form, or with --write or --check, several')
    .argument('<files...>', '.tl scripts, or - for standard input')
    .option('-w, --write', 'rewrite the files in place')
    .option('--check', 'exit 1 when a file is not in canonical form')
    .action((files: string[], opts: { write?: boolean; check?: boolean }) => {
      if (files.length > 1 && !opts.write && !opts.check) throw new UsageError(`give one file to print in canonical form, or --write or --check to format ${files.length}`);
      forEachFile(files, (file, source) => {
        const { text, diagnostics } = format(source);
        if (text === undefined) {
          report(file, source, diagnostics);
          return 1;
        }
        if (opts.check) {
          if (text !== source) process.stderr.write(`${file} is not formatted; run tl fmt --write ${file}\n`);
          return text === source ? 0 : 1;
        }
        if (opts.write && file !== '-') writeFileSync(file, text);
        else process.stdout.write(text);
        return 0;
      });
    });

  program
    .command('run')
    .description('train: compile the script and run its plan, with live progress')
    .argument('<file>', 'a .tl script, or a plan tl plan wrote (.json)')
    .option('--backend <name>', `auto, tensorflow, webgpu, wasm or cpu`, 'auto')
    .option('--json', 'print one JSON event per line instead of progress')
    .option('--resume', 'continue from the last checkpoint')
    .option('--run-dir <dir>', 'where checkpoints go (default: runs/<script>/state beside the script)')
    .option('--stop-on-corrupt', 'stop at the first unreadable image instead of skipping it')
    .action(async (file: string, opts: { backend: string; json?: boolean; resume?: boolean; runDir?: string; stopOnCorrupt?: boolean }) => {
      const backend = backendOption(opts.backend);
      const source = readSource(file);
      process.exitCode = await runCommand(file, source, { ...opts, backend });
    });

  registerLrFind(program);

  program
    .command('predict')
    .description('rank the labels of images with a model exported by tl run')
    .argument('<model-dir>', "a folder written by a script's 'export'")
    .argument('<images...>', 'image files (JPEG, PNG, WebP...), or folders of them')
    .option('-k, --top <k>', 'how many labels to show', '3')
    .option('--backend <name>', 'auto, tensorflow, webgpu, wasm or cpu', 'auto')
    .option('--tta', "average each image's probabilities with its mirror image's")
    .option('--json', 'print JSON')
    .action(async (dir: string, images: string[], opts: { top: string; backend: string; tta?: boolean; json?: boolean }) => {
      const k = Number(opts.top);
      if (!Number.isInteger(k) || k < 1) throw new UsageError(`--top must be a positive whole number, found '${opts.top}'`);
      const backend = backendOption(opts.backend);
      const { loadModel, predictFiles } = await import('../executor/index.ts');
      try {
        const predictions = await predictFiles(await loadModel(dir, { backend }), images, k, { tta: opts.tta === true });
        if (opts.json) process.stdout.write(`${JSON.stringify(predictions, null, 2)}\n`);
        for (const p of predictions) {
          if (p.error !== null) process.stderr.write(`tl: ${printable(p.error)}\n`);
          else if (!opts.json) process.stdout.write(printable(`${p.file}\n${p.top.map((t) => `  ${(100 * t.probability).toFixed(1).padStart(5)}%  ${t.label}`).join('\n')}\n`));
        }
        if (predictions.some((p) => p.error !== null)) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`tl: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
      }
    });

  registerEvaluate(program);
  registerExplain(program);

  const weights = program.command('weights').description('pretrained weights: what is here, and downloads');
  weights
    .command('list')
    .description('show each zoo model and where its pretrained weights come from')
    .option('--cache <dir>', 'the weights cache (default $TL_CACHE or ~/.cache/tl/weights)')
    .action(async (opts: { cache?: string }) => listWeights(opts.cache));
  weights
    .command('fetch')
    .description('download a zoo model\'s Keras ImageNet weights into the cache, checking their checksum')
    .argument('<model>', 'resnet50 or vgg16')
    .option('--cache <dir>', 'the weights cache (default $TL_CACHE or ~/.cache/tl/weights)')
    .option('--from <url>', 'a mirror serving the Keras applications files')
    .action(async (model: string, opts: { cache?: string; from?: string }) => {
      process.exitCode = await fetchWeightsCommand(model, opts);
    });

  registerServe(program);
  registerSubmit(program);
  registerFollow(program);

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  // A reader that stops early (`tl predict model dir | head`) closes the pipe: stop quietly, as
  // Unix tools do, rather than die on the failed write (which the wasm backend's handlers turn
  // into a dump of its own source).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`tl: ${printable(err.message)}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
