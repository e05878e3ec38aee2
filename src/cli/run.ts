/** `tl run`: compiles a script, trains, and shows progress (a bar and a line per epoch) or JSON events. */
import { dirname, join, resolve } from 'node:path';
import { compile } from '../compile.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import type { BackendName } from '../executor/backends/select.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import { LineMap } from '../diagnostics/location.ts';

export interface RunCommandOptions {
  readonly backend: BackendName;
  readonly json?: boolean;
  readonly resume?: boolean;
  readonly runDir?: string;
  readonly stopOnCorrupt?: boolean;
}

const pct = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`);
const num = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '  -   ' : x.toFixed(4));

function human(e: ExecutorEvent, out: NodeJS.WriteStream): void {
  const clear = out.isTTY ? '\r\x1b[K' : '';
  switch (e.type) {
    case 'jobStarted':
      out.write(`backend ${e.backend}: ${e.backendReason}\nmodel ${e.model}, ${e.classes.length} classes, ${e.trainImages} training and ${e.valImages} validation images\n`);
      break;
    case 'phaseStarted':
      out.write(`\nphase ${e.phase + 1} '${e.name}': ${e.epochs} epochs, lr ${e.lr}, training ${e.trainable.join(' + ')} (${e.trainableParams.toLocaleString('en-US')} parameters)${e.cachedAt ? `, on cached activations of ${e.cachedAt}` : ''}\n`);
      break;
    case 'batchProgress':
      if (out.isTTY) {
        const width = 24;
        const filled = Math.round((width * e.batch) / e.batches);
        out.write(`${clear}  epoch ${e.epoch} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.batch}/${e.batches} loss ${e.loss.toFixed(4)}`);
      }
      break;
    case 'epochEnded': {
      const m = e.metrics;
      out.write(`${clear}  epoch ${String(e.epoch).padStart(2)}/${e.epochs}  loss ${num(m.loss)}  acc ${pct(m.accuracy)}  val_loss ${num(m.valLoss)}  val_acc ${pct(m.valAccuracy)}  ${e.imagesPerSecond.toFixed(1)} img/s  eta ${Math.round(e.etaSeconds)}s\n`);
      break;
    }
    case 'phaseEnded':
      if (e.stoppedEarly) out.write(`  stopped early after ${e.epochsRun} epochs; best weights restored\n`);
      break;
    case 'checkpointSaved':
      out.write(`${clear}  checkpoint (${e.reason}) saved to ${e.path}\n`);
      break;
    case 'jobFinished': {
      const m = e.metrics;
      const rows: [string, string][] = [
        ['train accuracy', pct(m.accuracy)],
        ['validation accuracy', pct(m.valAccuracy)],
        ...(m.valTop5 !== null ? ([['validation top-5', pct(m.valTop5)]] as [string, string][]) : []),
        ...(m.testAccuracy !== null ? ([['test accuracy', pct(m.testAccuracy)]] as [string, string][]) : []),
        ['time', `${e.seconds.toFixed(1)} s`],
        ...(e.exportPath ? ([['exported to', e.exportPath]] as [string, string][]) : []),
      ];
      out.write(`\n${rows.map(([k, v]) => `  ${k.padEnd(20)} ${v.trim()}`).join('\n')}\n`);
      const worst = [...m.perClass].sort((a, b) => a.recall - b.recall).slice(0, 3);
      if (worst.length) out.write(`  weakest classes      ${worst.map((c) => `${c.label} (recall ${pct(c.recall).trim()})`).join(', ')}\n`);
      break;
    }
    case 'jobFailed':
      break;
  }
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
  const onEvent = (e: ExecutorEvent) => (opts.json ? process.stdout.write(`${JSON.stringify(e)}\n`) : human(e, process.stdout));
  try {
    await runPlan(plan, {
      baseDir, runDir, onEvent, backend: opts.backend, signal: controller.signal,
      ...(opts.resume && { resume: true }),
      onCorrupt: opts.stopOnCorrupt ? 'stop' : 'skip',
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
    return 0;
  } catch (err) {
    if (!opts.json) {
      const e = err as { message: string; origin?: { start: number; line: number; column: number } | null; code?: string };
      const where = e.origin ? `${file}:${e.origin.line}:${e.origin.column}: ` : '';
      process.stderr.write(`${where}error ${e.code ?? 'internal'}: ${e.message}\n`);
      if (process.env.TL_DEBUG) process.stderr.write(`${(err as { cause?: Error }).cause?.stack ?? (err as Error).stack}\n`);
      if (e.origin) {
        const lines = new LineMap(source);
        process.stderr.write(`${e.origin.line} | ${lines.lineText(e.origin.line)}\n`);
      }
    }
    return (err as { code?: string }).code === 'cancelled' ? 130 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
