/** The human progress display shared by `tl run` and `tl submit --follow`. */
import { error } from '../diagnostics/diagnostic.ts';
import { formatDiagnostic } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import { suggestedRate, type ExecutorEvent, type LrFindResult, type TileTuning } from '../executor/events.ts';
import { rateText } from '../format/set-rate.ts';
import type { Origin } from '../plan/schema.ts';
import { evaluationReport } from './evaluation-report.ts';
import { num, pct } from './numbers.ts';

/** A learning rate as scripts write one: 3e-4, 1e-3, 7.5e-5, 1; `digits` significant digits at most. */
export const rate = rateText;
/** A rate as scripts write one, to two digits: 3e-4, 2.5e-3. */
const short = (x: number) => rate(x, 2);

/** "12 products measured, 50 kept from earlier runs (3.1 s)". */
function tileReport(t: TileTuning): string {
  const parts = [...(t.measured > 0 ? [`${t.measured} product${t.measured === 1 ? '' : 's'} measured`] : []), ...(t.cached > 0 ? [`${t.cached} kept from earlier runs`] : [])];
  return `${parts.join(', ')} (${t.seconds.toFixed(1)} s)`;
}

/** Prints one executor event for people: a line per epoch, a bar on terminals, a summary at the end; warnings go to `err`. */
export function printEvent(e: ExecutorEvent, out: NodeJS.WriteStream, err: NodeJS.WriteStream = process.stderr, options: { readonly matrix?: boolean } = {}): void {
  const clear = out.isTTY ? '\r\x1b[K' : '';
  switch (e.type) {
    case 'warning':
      // On a terminal the line may hold the progress bar: clear it first (the next batch draws it again).
      err.write(`${err.isTTY ? '\r\x1b[K' : ''}warning: ${printable(e.message)}\n`);
      break;
    case 'jobStarted':
      out.write(printable(`backend ${e.backend}: ${e.backendReason}\nmodel ${e.model}, ${e.classes.length} classes, ${e.trainImages} training and ${e.valImages} validation images\n`));
      if (e.adaptation) out.write(printable(`adapt ${e.adaptation.method} to ${e.adaptation.targetImages} unlabelled images of '${e.adaptation.target}'\n`));
      break;
    case 'phaseStarted': {
      const own = e.unitRates?.length ? ` (${e.unitRates.map((r) => `${r.unit} ${rate(r.lr)}`).join(', ')})` : '';
      // Events stored before the optimizer and schedule were reported have neither.
      const optimizer = e.optimizer ? `${e.optimizer}, ` : '';
      const schedule = e.schedule ? ` ${e.schedule}` : '';
      const clip = e.clip ? `, ${e.clip}` : '';
      out.write(printable(`\nphase ${e.phase + 1} '${e.name}': ${e.epochs} epoch${e.epochs === 1 ? '' : 's'}, ${optimizer}lr ${rate(e.lr)}${e.lrSearched ? ' (searched)' : ''}${schedule}${own}${clip}, training ${e.trainable.join(' + ')} (${e.trainableParams.toLocaleString('en-US')} parameters)${e.cachedAt ? `, on cached activations of ${e.cachedAt}` : ''}\n`));
      break;
    }
    case 'batchProgress':
      if (out.isTTY) {
        const width = 24;
        const filled = Math.round((width * e.batch) / e.batches);
        out.write(`${clear}  epoch ${e.epoch} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.batch}/${e.batches} loss ${e.loss.toFixed(4)}`);
      }
      break;
    case 'epochEnded': {
      const m = e.metrics;
      // What `adapt` measures, where it does (its loss term, DANN's domain accuracy, self-training's labels), and `clip norm`.
      const extras = [
        ...((m.adaptLoss ?? null) !== null ? [`adapt_loss ${num(m.adaptLoss)}`] : []),
        ...((m.domainAccuracy ?? null) !== null ? [`domain_acc ${pct(m.domainAccuracy)}`] : []),
        ...((m.pseudoLabels ?? null) !== null ? [`pseudo_labels ${m.pseudoLabels}`] : []),
        // The gradients' mean norm before clipping, and the share of steps it clipped.
        ...((m.gradNorm ?? null) !== null ? [`grad_norm ${num(m.gradNorm)} (clipped ${pct(m.clipped ?? null).trim()})`] : []),
      ].map((s) => `  ${s}`).join('');
      out.write(`${clear}  epoch ${String(e.epoch).padStart(2)}/${e.epochs}  loss ${num(m.loss)}  acc ${pct(m.accuracy)}  val_loss ${num(m.valLoss)}  val_acc ${pct(m.valAccuracy)}${extras}  ${e.imagesPerSecond.toFixed(1)} img/s  eta ${Math.round(e.etaSeconds)}s\n`);
      break;
    }
    case 'phaseEnded':
      if (e.stoppedEarly) out.write(`  stopped early after ${e.epochsRun} epochs; best weights restored\n`);
      // Events stored before replays were reported have no `replay`.
      if (e.replay) out.write(`  ${e.replay.replayed} of ${e.replay.steps} steps replayed${e.replay.replayed === 0 && e.replay.note ? ` (${e.replay.note})` : ''}\n`);
      if (e.tiles && e.tiles.products > 0) out.write(`  GEMM tiles: ${tileReport(e.tiles)}\n`);
      break;
    case 'checkpointSaved':
      out.write(`${clear}${printable(`  checkpoint (${e.reason}) saved to ${e.path}\n`)}`);
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
      out.write(printable(`\n${rows.map(([k, v]) => `  ${k.padEnd(20)} ${v.trim()}`).join('\n')}\n`));
      // Up to three classes the model misses most; none when it recalls every class fully, or had no images to score.
      const worst = m.perClass.filter((c) => c.support > 0 && c.recall < 1).sort((a, b) => a.recall - b.recall).slice(0, 3);
      if (worst.length) out.write(printable(`  weakest classes      ${worst.map((c) => `${c.label} (recall ${pct(c.recall).trim()})`).join(', ')}\n`));
      break;
    }
    case 'lrPoint':
      if (e.step === 1) out.write(`${clear}${printable(`  searching the rate of phase '${e.name}': ${e.steps} steps at rates rising from ${short(e.lr)}`)}\n`);
      if (out.isTTY) out.write(`${clear}  lr search step ${e.step}/${e.steps}  lr ${short(e.lr)}  loss ${num(e.loss)}`);
      break;
    case 'lrFound':
      out.write(`${clear}${printable(lrReport(e.result))}`);
      break;
    case 'evaluated':
      out.write(printable(evaluationReport(e.evaluation, options)));
      break;
    case 'jobFailed':
      break;
  }
}

/** A failed job as `tl check` prints a diagnostic: `file:line:col: error CODE: message`, the script line, a caret. */
export function printFailure(file: string, source: string, failure: { code: string; message: string; origin: Origin | null }, out: NodeJS.WriteStream): void {
  const { code, message, origin } = failure;
  if (!origin) out.write(`error ${code}: ${printable(message)}\n`);
  else out.write(`${formatDiagnostic(error(code, message, { start: origin.start, end: origin.end }), { file, source, color: out.isTTY === true })}\n`);
}

/** About 20 rows of rate, loss and smoothed loss with a bar, then what to write. */
export function lrReport(found: LrFindResult): string {
  const { points } = found;
  const lines = [
    `backend ${found.backend}: ${found.backendReason}`,
    `phase '${found.phase}' ${found.after.length > 0 ? `from the weights ${found.after.map((n) => `'${n}'`).join(', ')} left` : 'from the weights a run starts with'}: ${points.length} steps of ${found.batch} images, lr ${short(points[0]!.lr)} to ${short(points.at(-1)!.lr)}${found.diverged ? ' (stopped: the loss diverged)' : ''}`,
    '',
    '        lr      loss  smoothed',
  ];
  const shown = points.filter((_, i) => i % Math.max(1, Math.round(points.length / 20)) === 0 || i === points.length - 1);
  const finite = shown.map((p) => p.smoothed).filter(Number.isFinite);
  const [low, high] = [Math.min(...finite), Math.max(...finite)];
  for (const p of shown) {
    const width = Number.isFinite(p.smoothed) && high > low ? Math.round((30 * (p.smoothed - low)) / (high - low)) : 0;
    lines.push(`  ${short(p.lr).padStart(8)}  ${p.loss.toFixed(4).padStart(8)}  ${p.smoothed.toFixed(4).padStart(8)}  ${'#'.repeat(width)}`);
  }
  lines.push('');
  if (found.steepest !== null) lines.push(`the loss falls fastest at lr ${short(found.steepest)}; it is lowest at ${short(found.tenthOfMinimum! * 10)}, and a tenth of that is ${short(found.tenthOfMinimum!)}`);
  else if (found.tenthOfMinimum !== null) lines.push(`the loss is lowest at lr ${short(found.tenthOfMinimum * 10)}; a tenth of that is ${short(found.tenthOfMinimum)}`);
  else lines.push('too few steps to suggest a rate; take more (--steps) or start lower (--from)');
  const pick = suggestedRate(found);
  if (pick !== null) lines.push(`suggested: lr ${short(pick)} in phase '${found.phase}'`);
  return `${lines.join('\n')}\n`;
}
