/**
 * Range rules for every number in the language, in one table so each field's limits are stated once.
 * The plan schema repeats the hard limits; these give the reader a sentence saying what fits.
 */
import { error, warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { NumberNode, Setting } from '../syntax/ast.ts';
import type { Check } from './context.ts';

interface Rule {
  readonly integer?: boolean;
  readonly min?: number;
  readonly minExclusive?: boolean;
  readonly max?: number;
  readonly maxExclusive?: boolean;
  /** How the field reads in a message. */
  readonly what: string;
}

export const NUMBER_RULES = {
  epochs: { integer: true, min: 0, max: 10_000, what: 'epochs' },
  batch: { integer: true, min: 1, max: 65_536, what: 'batch size' },
  input: { integer: true, min: 8, max: 2048, what: 'input size' },
  split: { min: 0, minExclusive: true, max: 1, maxExclusive: true, what: 'validation split' },
  units: { integer: true, min: 1, max: 65_536, what: 'dense units' },
  dropout: { min: 0, max: 1, maxExclusive: true, what: 'dropout rate' },
  momentum: { min: 0, max: 1, maxExclusive: true, what: 'momentum' },
  weightDecay: { min: 0, max: 1, maxExclusive: true, what: 'weight decay' },
  warmup: { integer: true, min: 0, max: 10_000, what: 'warmup epochs' },
  min: { min: 0, what: 'minimum learning rate' },
  every: { integer: true, min: 1, max: 10_000, what: 'step interval (epochs)' },
  gamma: { min: 0, minExclusive: true, max: 1, what: 'step factor gamma' },
  decay: { min: 0, minExclusive: true, max: 1, what: 'decay factor' },
  weight: { min: 0, minExclusive: true, max: 1000, what: 'adaptation weight' },
  threshold: { min: 0, minExclusive: true, max: 1, maxExclusive: true, what: 'confidence threshold' },
  rounds: { integer: true, min: 1, max: 100, what: 'rounds' },
  searchSteps: { integer: true, min: 2, max: 1000, what: 'search steps' },
  patience: { integer: true, min: 1, max: 10_000, what: 'patience' },
  seed: { integer: true, min: 0, max: 4_294_967_295, what: 'seed' },
  labelSmoothing: { min: 0, max: 1, maxExclusive: true, what: 'label smoothing' },
  clip: { min: 0, minExclusive: true, what: 'clipping threshold' },
  checkpointEvery: { integer: true, min: 1, max: 10_000, what: 'checkpoint interval (epochs)' },
} as const satisfies Record<string, Rule>;

export type NumberField = keyof typeof NUMBER_RULES;

function bounds(rule: Rule): string {
  const lo = rule.min === undefined ? '' : `${rule.minExclusive ? 'above' : 'at least'} ${rule.min}`;
  const hi = rule.max === undefined ? '' : `${rule.maxExclusive ? 'below' : 'at most'} ${rule.max}`;
  return [lo, hi].filter(Boolean).join(' and ');
}

/** `narrower` tightens a field's rule where the context knows more (a zoo model's smallest input). */
export function checkNumber(n: NumberNode | undefined, field: NumberField, narrower?: Partial<Rule>): Diagnostic | undefined {
  if (!n) return undefined;
  const rule: Rule = { ...NUMBER_RULES[field], ...narrower };
  const v = n.value;
  if (!Number.isFinite(v)) return error('bad-number', `${n.text} is not a usable number for ${rule.what}`, n.span);
  if (rule.integer && !Number.isInteger(v)) {
    return error('bad-number', `${rule.what} must be a whole number, found ${n.text}; try ${Math.max(rule.min ?? 0, Math.round(v))}`, n.span);
  }
  const low = rule.min !== undefined && (rule.minExclusive ? v <= rule.min : v < rule.min);
  const high = rule.max !== undefined && (rule.maxExclusive ? v >= rule.max : v > rule.max);
  if (low || high) return error('bad-number', `${rule.what} must be ${bounds(rule)}, found ${n.text}`, n.span);
  return undefined;
}

/** Learning rates get their own codes: a non-positive rate and an absurd one are different mistakes. */
export function checkLearningRate(n: NumberNode): Diagnostic | undefined {
  const v = n.value;
  if (!Number.isFinite(v)) return error('bad-number', `${n.text} is not a usable learning rate`, n.span);
  if (v <= 0) return error('lr-not-positive', `learning rate must be positive, found ${n.text}; fine-tuning usually uses 1e-5 to 1e-3`, n.span);
  if (v > 1) return error('lr-absurd', `learning rate ${n.text} would diverge; use a value at most 1 (typical: 1e-5 to 1e-2)`, n.span);
  if (v > 0.1) return warning('lr-high', `learning rate ${n.text} is high for transfer learning and may wreck the pretrained features; typical: 1e-5 to 1e-2`, n.span);
  return undefined;
}

export function checkSettingNumbers(s: Setting): (Diagnostic | undefined)[] {
  switch (s.kind) {
    case 'epochs':
      return [checkNumber(s.value, 'epochs')];
    case 'batch':
      return [checkNumber(s.value, 'batch')];
    case 'lr':
      return [checkLearningRate(s.value)];
    case 'lrAuto':
      return [checkNumber(s.steps, 'searchSteps')];
    case 'optimizer':
      return [checkNumber(s.momentum, 'momentum'), checkNumber(s.weightDecay, 'weightDecay')];
    case 'schedule':
      return [checkNumber(s.warmup, 'warmup'), checkNumber(s.min, 'min'), checkNumber(s.every, 'every'), checkNumber(s.gamma, 'gamma')];
    case 'clip':
      return [checkNumber(s.max, 'clip')];
  }
}

export const numbersCheck: Check = {
  name: 'numbers',
  run(ctx) {
    const found: (Diagnostic | undefined)[] = [];
    for (const s of ctx.script.statements) {
      switch (s.kind) {
        case 'use': {
          const zoo = s === ctx.use ? ctx.zoo : undefined;
          found.push(checkNumber(s.input, 'input', zoo && { min: zoo.minInput, what: `${zoo.name}'s input size` }));
          break;
        }
        case 'data':
          found.push(checkNumber(s.split, 'split'));
          break;
        case 'head':
          for (const l of s.layers) found.push(l.kind === 'dense' ? checkNumber(l.units, 'units') : checkNumber(l.rate, 'dropout'));
          break;
        case 'setting':
          found.push(...checkSettingNumbers(s.setting));
          break;
        case 'phase':
          found.push(checkNumber(s.decay, 'decay'));
          for (const setting of s.settings) found.push(...checkSettingNumbers(setting));
          break;
        case 'adapt':
          found.push(checkNumber(s.weight, 'weight'), checkNumber(s.threshold, 'threshold'), checkNumber(s.rounds, 'rounds'));
          break;
        case 'earlyStop':
          found.push(checkNumber(s.patience, 'patience'));
          break;
        case 'checkpoint':
          found.push(checkNumber(s.every, 'checkpointEvery'));
          break;
        case 'seed':
          found.push(checkNumber(s.value, 'seed'));
          break;
        case 'labelSmoothing':
          found.push(checkNumber(s.value, 'labelSmoothing'));
          break;
      }
    }
    return found.filter((d): d is Diagnostic => d !== undefined);
  },
};
