/** `tl evaluate`'s report, for a model scored here or an evaluation job followed on a server. */
import { isAbsolute, relative } from 'node:path';
import type { Evaluation } from '../executor/evaluate-model.ts';
import { pct } from './numbers.ts';

/** How many of the most confused pairs the report lists. */
const CONFUSED_ROWS = 5;

/** The evaluation for people: the scores, a table of classes, the most confused pairs, the worst mistakes. */
export function evaluationReport(e: Evaluation, options: { readonly matrix?: boolean } = {}): string {
  const present = e.perClass.filter((c) => c.support > 0).length;
  const lines = [`${e.images} image${e.images === 1 ? '' : 's'} of ${present} class${present === 1 ? '' : 'es'}${present < e.classes.length ? ` (the model knows ${e.classes.length})` : ''}`];
  lines.push(`  accuracy   ${pct(e.accuracy).trim()}`);
  if (e.top5 !== null) lines.push(`  top-5      ${pct(e.top5).trim()}`);
  lines.push(`  loss       ${e.loss.toFixed(4)}`, '');

  const width = Math.max(5, ...e.classes.map((c) => c.length));
  lines.push(`  ${'class'.padEnd(width)}  precision  recall  images`);
  e.perClass.forEach((c, k) => {
    // A class the data lacks has no recall; a class never predicted has no precision.
    const predicted = e.confusion.reduce((n, row) => n + row[k]!, 0);
    lines.push(`  ${c.label.padEnd(width)}  ${(predicted ? pct(c.precision) : '   -  ').padStart(9)}  ${(c.support ? pct(c.recall) : '   -  ').padStart(6)}  ${String(c.support).padStart(6)}`);
  });

  if (options.matrix) lines.push('', ...matrix(e));

  if (e.confused.length) {
    lines.push('', '  most confused (true -> predicted: images)');
    for (const c of e.confused.slice(0, CONFUSED_ROWS)) lines.push(`    ${c.truth} -> ${c.predicted}: ${c.count}`);
  }
  if (e.mistakes.length) {
    lines.push('', '  worst mistakes (the probability it gave, and the true class\'s)');
    const files = e.mistakes.map((m) => shown(m.source));
    const fileWidth = Math.max(...files.map((f) => f.length));
    e.mistakes.forEach((m, i) => {
      lines.push(`    ${files[i]!.padEnd(fileWidth)}  ${m.truth} taken for ${m.predicted} (${pct(m.probability).trim()}; ${m.truth} ${pct(m.truthProbability).trim()})`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/** Rows: the true class; columns: the predicted class, numbered as the rows are. */
function matrix(e: Evaluation): string[] {
  const width = Math.max(5, ...e.classes.map((c) => c.length));
  const cell = Math.max(3, ...e.confusion.flat().map((n) => String(n).length)) + 1;
  const head = `  ${'true \\ predicted'.padEnd(width + 4)}${e.classes.map((_, i) => String(i + 1).padStart(cell)).join('')}`;
  return [head, ...e.confusion.map((row, t) => `  ${String(t + 1).padStart(2)}. ${e.classes[t]!.padEnd(width)}${row.map((n) => String(n).padStart(cell)).join('')}`)];
}

/** A file under the working folder as a relative path, others as they are. */
export function shown(source: string): string {
  const rel = relative(process.cwd(), source);
  return rel.startsWith('..') || isAbsolute(rel) ? source : rel;
}
