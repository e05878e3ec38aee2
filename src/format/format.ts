/**
 * `tl fmt`: the canonical form of a script. One statement a line, options in a fixed order, single
 * spaces, numbers as written, comments kept where they were (on their own line or after a statement),
 * runs of blank lines folded to one. Idempotent: formatting the output again changes nothing.
 */
import { hasErrors, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Comment, NumberNode, Setting, Statement, Word } from '../syntax/ast.ts';
import { parse } from '../syntax/parse.ts';

/** `text` as a TL string literal: quoted, with its backslashes and quotes escaped. */
export function quoted(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function w(word: Word): string {
  return word.quoted ? quoted(word.text) : word.text;
}

function n(num: NumberNode): string {
  return num.text;
}

function opt(keyword: string, value: string | undefined): string {
  return value === undefined ? '' : ` ${keyword} ${value}`;
}

function setting(s: Setting): string {
  switch (s.kind) {
    case 'epochs':
    case 'batch':
      return `${s.kind} ${n(s.value)}`;
    case 'lr':
      return `lr ${s.unit ? `${w(s.unit)} ` : ''}${n(s.value)}`;
    case 'lrAuto':
      return `lr auto${opt('steps', s.steps && n(s.steps))}`;
    case 'optimizer':
      return `optimizer ${w(s.name)}${opt('momentum', s.momentum && n(s.momentum))}${opt('weight decay', s.weightDecay && n(s.weightDecay))}`;
    case 'schedule':
      return `schedule ${w(s.name)}${opt('min', s.min && n(s.min))}${opt('every', s.every && n(s.every))}${opt('gamma', s.gamma && n(s.gamma))}${opt('warmup', s.warmup && n(s.warmup))}`;
    case 'clip':
      return s.mode && s.max ? `clip ${w(s.mode)} ${n(s.max)}` : 'clip none';
  }
}

export function printStatement(s: Statement): string {
  switch (s.kind) {
    case 'use':
      return `use ${w(s.model)}${opt('weights', s.weights && w(s.weights))}${opt('input', s.input && n(s.input))}${opt('cut', s.cut && w(s.cut))}`;
    case 'data':
      return `data ${w(s.path)}${opt('split', s.split && n(s.split))}${opt('val', s.val && w(s.val))}${s.balance ? ' balance' : ''}`;
    case 'head':
      return ['head', ...s.layers.map((l) => (l.kind === 'dense' ? `dense ${n(l.units)}${l.activation ? ` ${w(l.activation)}` : ''}` : `dropout ${n(l.rate)}`))].join(' ');
    case 'freeze':
      return s.mode === 'until' && s.target ? `freeze until ${w(s.target)}` : `freeze ${s.mode}`;
    case 'augment':
      return `augment ${s.ops.map((o) => `${w(o.name)}${o.arg ? ` ${'value' in o.arg ? n(o.arg) : w(o.arg)}` : ''}`).join(', ')}`;
    case 'setting':
      return setting(s.setting);
    case 'phase': {
      const parts = ['phase'];
      if (s.name) parts.push(w(s.name));
      for (const u of s.unfreeze) parts.push(`unfreeze ${u.all ? 'all' : u.targets.map(w).join(', ')}`);
      for (const st of s.settings) parts.push(setting(st));
      if (s.decay) parts.push(`decay ${n(s.decay)}`);
      return parts.join(' ');
    }
    case 'adapt':
      return `adapt ${w(s.method)}${opt('weight', s.weight && n(s.weight))}${opt('threshold', s.threshold && n(s.threshold))}${opt('rounds', s.rounds && n(s.rounds))}${opt('at', s.at && w(s.at))}${opt('target', s.target && w(s.target))}`;
    case 'earlyStop':
      return `early stop${opt('patience', s.patience && n(s.patience))}${opt('monitor', s.monitor && w(s.monitor))}`;
    case 'checkpoint':
      return `checkpoint ${s.every ? `every ${n(s.every)}` : w(s.mode!)}${opt('monitor', s.monitor && w(s.monitor))}`;
    case 'labelSmoothing':
      return `label smoothing ${n(s.value)}`;
    case 'seed':
      return `seed ${n(s.value)}`;
    case 'evaluate':
      return `evaluate ${w(s.path)}${s.tta ? ' tta' : ''}`;
    case 'export':
      return `export ${w(s.path)}`;
  }
}

export interface FormatResult {
  /** Absent when the script has syntax errors: a formatter must never lose text it cannot read. */
  readonly text?: string;
  readonly diagnostics: readonly Diagnostic[];
}

export function format(source: string): FormatResult {
  const { script, diagnostics } = parse(source);
  if (hasErrors(diagnostics)) return { diagnostics };

  type Item = { start: number; end: number; text: string; comment: boolean };
  const items: Item[] = [
    ...script.statements.map((s) => ({ start: s.span.start, end: s.span.end, text: printStatement(s), comment: false })),
    ...script.comments.map((c: Comment) => ({ start: c.span.start, end: c.span.end, text: c.text.trimEnd(), comment: true })),
  ].sort((a, b) => a.start - b.start);

  const out: string[] = [];
  let previous: Item | undefined;
  for (const item of items) {
    const gap = previous ? source.slice(previous.end, item.start) : '';
    const newlines = (gap.match(/\n/g) ?? []).length;
    if (previous && item.comment && newlines === 0) {
      out[out.length - 1] += `  ${item.text}`;
    } else {
      if (newlines >= 2 && out.length > 0) out.push('');
      out.push(item.text);
    }
    previous = item;
  }
  return { text: out.length ? `${out.join('\n')}\n` : '', diagnostics };
}
