/**
 * TL's tokens. Statements end with `;` or a newline, `#` starts a comment to the end of the line.
 * Keywords are matched as identifiers first (`longer_alt`) so `blocked` is not `block` + `ed`; words
 * that name things (models, optimizers, augment ops, activations) are plain identifiers, checked later
 * against their lists so a misspelling gets a "did you mean" instead of a parse error.
 */
import type { TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.ts';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\f\v\uFEFF]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: 'comments' });
export const Newline = createToken({ name: 'Newline', pattern: /\n/, line_breaks: true, label: 'end of line' });
export const Semicolon = createToken({ name: 'Semicolon', pattern: /;/, label: "';'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });

export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n]|\\.)*"/, label: 'a quoted string' });
/** A string with no closing quote on its line: lexed as its own token so the checks can say so plainly. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n]|\\.)*/, label: 'an unterminated string' });
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });
}

/** Every reserved word, by its spelling. */
export const Kw = {
  use: keyword('use'),
  weights: keyword('weights'),
  input: keyword('input'),
  cut: keyword('cut'),
  data: keyword('data'),
  split: keyword('split'),
  val: keyword('val'),
  head: keyword('head'),
  dense: keyword('dense'),
  dropout: keyword('dropout'),
  freeze: keyword('freeze'),
  until: keyword('until'),
  all: keyword('all'),
  none: keyword('none'),
  augment: keyword('augment'),
  epochs: keyword('epochs'),
  lr: keyword('lr'),
  auto: keyword('auto'),
  steps: keyword('steps'),
  batch: keyword('batch'),
  optimizer: keyword('optimizer'),
  momentum: keyword('momentum'),
  schedule: keyword('schedule'),
  clip: keyword('clip'),
  warmup: keyword('warmup'),
  min: keyword('min'),
  every: keyword('every'),
  gamma: keyword('gamma'),
  phase: keyword('phase'),
  unfreeze: keyword('unfreeze'),
  decay: keyword('decay'),
  adapt: keyword('adapt'),
  target: keyword('target'),
  weight: keyword('weight'),
  threshold: keyword('threshold'),
  rounds: keyword('rounds'),
  at: keyword('at'),
  early: keyword('early'),
  stop: keyword('stop'),
  patience: keyword('patience'),
  monitor: keyword('monitor'),
  checkpoint: keyword('checkpoint'),
  seed: keyword('seed'),
  label: keyword('label'),
  balance: keyword('balance'),
  tta: keyword('tta'),
  smoothing: keyword('smoothing'),
  evaluate: keyword('evaluate'),
  export: keyword('export'),
} as const;

export type KeywordName = keyof typeof Kw;

/** Words that begin a statement, in the order the reference lists them. */
export const STATEMENT_KEYWORDS = [
  'use', 'data', 'head', 'freeze', 'augment', 'label', 'epochs', 'lr', 'batch', 'optimizer', 'schedule',
  'clip', 'phase', 'adapt', 'early', 'checkpoint', 'seed', 'evaluate', 'export',
] as const satisfies readonly KeywordName[];

// Order matters: longer keywords that share a prefix need no care thanks to longer_alt, but strings
// must come before the unterminated-string catch-all, and numbers before identifiers.
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Newline,
  Semicolon,
  Comma,
  StringLiteral,
  UnterminatedString,
  NumberLiteral,
  ...Object.values(Kw),
  Identifier,
];

export const TlLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: true });
