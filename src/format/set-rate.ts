/**
 * Writes a phase's learning rate into a script and changes nothing else: the phase's own `lr X`
 * (or `lr auto`) takes the new number; a phase without one gets ` lr X` at the end of its statement, and the first
 * phase (the settings before any `phase`) a line `lr X` above the first `phase`. What
 * `tl lr-find --write` and the dashboard's "use this rate" do with a search's suggestion.
 *
 * @example
 * setPhaseRate('use tiny\nphase ft unfreeze all lr 1e-4\n', 'ft', 2.4e-3).source
 * // 'use tiny\nphase ft unfreeze all lr 2.4e-3\n'
 */
import { phaseName } from '../checks/phases.ts';
import { hasErrors } from '../diagnostics/diagnostic.ts';
import type { Setting } from '../syntax/ast.ts';
import { parse } from '../syntax/parse.ts';

/** A rate as scripts write one: 3e-4, 2.4e-3 (`digits` significant digits). */
export function rateText(x: number, digits = 6): string {
  return Number(x.toPrecision(digits)).toExponential().replace(/e\+0$/, '');
}

export type RateEdit = { readonly source: string; readonly error?: undefined } | { readonly source?: undefined; readonly error: string };

export function setPhaseRate(source: string, phase: string, lr: number): RateEdit {
  if (!(lr > 0 && lr <= 1)) return { error: `a learning rate must be above 0 and at most 1, not ${lr}` };
  const { script, diagnostics } = parse(source);
  if (hasErrors(diagnostics)) return { error: 'the script does not parse; fix it first (tl check)' };
  const statements = script.statements.flatMap((s) => (s.kind === 'phase' ? [s] : []));
  const phases = [
    { name: phaseName(0, undefined), statement: undefined, settings: script.statements.flatMap((s) => (s.kind === 'setting' ? [s.setting] : [])) },
    ...statements.map((statement, i) => ({ name: phaseName(i + 1, statement), statement, settings: statement.settings })),
  ];
  const target = phases.find((p) => p.name === phase);
  if (!target) return { error: `the script has no phase '${phase}'; its phases are ${phases.map((p) => `'${p.name}'`).join(', ')}` };
  const text = rateText(lr, 2);
  const splice = (at: number, end: number, insert: string) => ({ source: source.slice(0, at) + insert + source.slice(end) });
  const settings: readonly Setting[] = target.settings;
  // The phase's own rate: a number, or `auto` (then the number replaces the search).
  const own = settings.find((s): s is Extract<Setting, { kind: 'lr' | 'lrAuto' }> => (s.kind === 'lr' && s.unit === undefined) || s.kind === 'lrAuto');
  if (own) {
    // `auto` and its `steps N` give way to the number.
    const span = own.kind === 'lrAuto' ? { start: own.auto.start, end: own.span.end } : own.value.span;
    return splice(span.start, span.end, text);
  }
  if (target.statement) return splice(target.statement.span.end, target.statement.span.end, ` lr ${text}`);
  const first = statements[0];
  if (first) {
    const lineStart = source.lastIndexOf('\n', first.span.start - 1) + 1;
    return splice(lineStart, lineStart, `lr ${text}\n`);
  }
  return { source: `${source}${source === '' || source.endsWith('\n') ? '' : '\n'}lr ${text}\n` };
}
