/**
 * `tl run`: compiles a script (or reads a plan `tl plan` wrote, a `.json` file), trains, and shows
 * progress (a bar and a line per epoch) or JSON events.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compile } from '../compile.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import type { BackendName } from '../executor/backends/names.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import { parsePlan } from '../plan/parse.ts';
import type { Origin, Plan } from '../plan/schema.ts';
import { printEvent, printFailure } from './progress.ts';

export interface RunCommandOptions {
  readonly backend: BackendName;
  readonly json?: boolean;
  readonly resume?: boolean;
  readonly runDir?: string;
  readonly stopOnCorrupt?: boolean;
}

export async function runCommand(file: string, source: string, opts: RunCommandOptions): Promise<number> {
  // A `.json` file is a plan `tl plan` wrote; its origins point into a script that is not at hand.
  const isPlan = file.endsWith('.json');
  const plan = isPlan ? readPlan(file, source) : compiled(file, source);
  if (!plan) return 1;
  const { runPlan } = await import('../executor/run.ts');
  const baseDir = dirname(resolve(file));
  const runDir = opts.runDir ?? join(baseDir, 'runs', file.replace(/^.*\//, '').replace(/\.tl$/, ''), 'state');
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\ncancelling after this batch (Ctrl-C again to quit now)...\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const onEvent = (e: ExecutorEvent) => (opts.json ? process.stdout.write(`${JSON.stringify(e)}\n`) : printEvent(e, process.stdout));
  try {
    await runPlan(plan, {
      baseDir, runDir, onEvent, backend: opts.backend, signal: controller.signal,
      ...(opts.resume && { resume: true }),
      onCorrupt: opts.stopOnCorrupt ? 'stop' : 'skip',
    });
    return 0;
  } catch (err) {
    if (!opts.json) {
      const e = err as { message: string; origin?: Origin | null; code?: string };
      const failure = { code: e.code ?? 'internal', message: e.message, origin: e.origin ?? null };
      if (isPlan && failure.origin) failure.message += ` (line ${failure.origin.line}, column ${failure.origin.column} of the script the plan was compiled from)`;
      printFailure(file, source, isPlan ? { ...failure, origin: null } : failure, process.stderr);
      if (e.code === 'cancelled' && existsSync(join(runDir, 'checkpoint'))) process.stderr.write(`resume with: tl run ${file}${opts.runDir ? ` --run-dir ${opts.runDir}` : ''} --resume\n`);
      if (process.env.TL_DEBUG) process.stderr.write(`${(err as { cause?: Error }).cause?.stack ?? (err as Error).stack}\n`);
    }
    return (err as { code?: string }).code === 'cancelled' ? 130 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function compiled(file: string, source: string): Plan | undefined {
  const { plan, diagnostics } = compile(source);
  if (diagnostics.length) process.stderr.write(`${formatDiagnostics(diagnostics.filter((d) => d.code !== 'missing-data' || !plan), { file, source, color: process.stderr.isTTY === true })}\n`);
  return plan;
}

/** A plan as `tl plan` prints it (or as a program wrote it), checked against the schema; relative paths in it start at its folder. */
function readPlan(file: string, text: string): Plan | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    process.stderr.write(`${file}: error bad-plan: not JSON: ${(err as Error).message}\n`);
    return undefined;
  }
  const read = parsePlan(value);
  for (const problem of read.problems ?? []) process.stderr.write(`${file}: error bad-plan: ${problem}\n`);
  return read.plan;
}
