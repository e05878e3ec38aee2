/** Words that pick one of a fixed set: optimizers, schedules and their options, clipping modes, activations, monitors, checkpoint modes. */
import { error, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { didYouMean, quoteList } from '../diagnostics/suggest.ts';
import type { Setting, Word } from '../syntax/ast.ts';
import type { Check } from './context.ts';
import { ACTIVATIONS, CLIP_MODES, MONITORS, OPTIMIZERS, SCHEDULES, isOneOf } from './vocabulary.ts';

function oneOf(word: Word | undefined, list: readonly string[], code: string, what: string): Diagnostic | undefined {
  if (!word || isOneOf(list, word.text)) return undefined;
  return error(code, `unknown ${what} '${word.text}'${didYouMean(word.text, list) || `; choose from ${quoteList(list)}`}`, word.span);
}

function settingNames(s: Setting): (Diagnostic | undefined)[] {
  if (s.kind === 'optimizer') {
    const out = [oneOf(s.name, OPTIMIZERS, 'unknown-optimizer', 'optimizer')];
    if (s.momentum && (s.name.text === 'adam' || s.name.text === 'adamw')) {
      out.push(error('option-not-applicable', `${s.name.text} has no momentum setting; use 'optimizer sgd momentum ${s.momentum.text}' or drop it`, s.momentum.span));
    }
    return out;
  }
  if (s.kind === 'schedule') {
    const out = [oneOf(s.name, SCHEDULES, 'unknown-schedule', 'schedule')];
    const kind = s.name.text;
    if (s.min && kind !== 'cosine') out.push(error('option-not-applicable', `'min' applies to 'schedule cosine', not '${kind}'`, s.min.span));
    for (const opt of [s.every, s.gamma]) {
      if (opt && kind !== 'step') out.push(error('option-not-applicable', `'every' and 'gamma' apply to 'schedule step', not '${kind}'`, opt.span));
    }
    return out;
  }
  if (s.kind === 'clip') return [oneOf(s.mode, CLIP_MODES, 'unknown-clip', 'clipping')];
  return [];
}

export const namesCheck: Check = {
  name: 'names',
  run(ctx) {
    const found: (Diagnostic | undefined)[] = [];
    for (const s of ctx.script.statements) {
      if (s.kind === 'setting') found.push(...settingNames(s.setting));
      if (s.kind === 'phase') for (const setting of s.settings) found.push(...settingNames(setting));
      if (s.kind === 'head') for (const l of s.layers) if (l.kind === 'dense') found.push(oneOf(l.activation, ACTIVATIONS, 'unknown-activation', 'activation'));
      if (s.kind === 'earlyStop') found.push(oneOf(s.monitor, MONITORS, 'unknown-monitor', 'metric to monitor'));
      if (s.kind === 'checkpoint') {
        found.push(oneOf(s.mode, ['best'], 'unknown-checkpoint', "checkpoint mode (use 'best' or 'every N')"));
        found.push(oneOf(s.monitor, MONITORS, 'unknown-monitor', 'metric to monitor'));
        if (s.every && s.monitor) found.push(error('option-not-applicable', `'monitor' applies to 'checkpoint best'`, s.monitor.span));
      }
    }
    return found.filter((d): d is Diagnostic => d !== undefined);
  },
};
