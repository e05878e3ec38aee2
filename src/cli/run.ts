/** `tl run`: compiles a script, trains, and shows progress (a bar and a line per epoch) or JSON events. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compile } from '../compile.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import type { BackendName } from '../executor/backends/names.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import type { Origin } from '../plan/schema.ts';
import { printEvent, printFailure } from './progress.ts';

export interface RunCommandOptions {
  readonly backend: BackendName;
  readonly json?: boolean;
  readonly resume?: boolean;
  readonly runDir?: string;
  readonly stopOnCorrupt?: boolean;
}

export async function runCommand(file: string, source: string, opts: RunCommandOptions): Promise<number> {
  const { plan, diagnostics } = compile(source);
  if (diagnostics.length) process.stderr.write(`${formatDiagnostics(diagnostics.filter((d) => d.code !== 'missing-data' || !plan), { file, source, color: process.stderr.isTTY === true })}\n`);
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
      printFailure(file, source, { code: e.code ?? 'internal', message: e.message, origin: e.origin ?? null }, process.stderr);
      if (e.code === 'cancelled' && existsSync(join(runDir, 'checkpoint'))) process.stderr.write(`resume with: tl run ${file}${opts.runDir ? ` --run-dir ${opts.runDir}` : ''} --resume\n`);
      if (process.env.TL_DEBUG) process.stderr.write(`${(err as { cause?: Error }).cause?.stack ?? (err as Error).stack}\n`);
    }
    return (err as { code?: string }).code === 'cancelled' ? 130 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
