/**
 * Turns one statement's tokens, already accepted by the grammar, into its AST node. Because the parser
 * has validated the shape, this walks the tokens in order with a cursor; the only findings here are
 * options written twice in one statement.
 */
import type { IToken } from 'chevrotain';
import { error, type Diagnostic, type Span } from '../diagnostics/diagnostic.ts';
import { settingLabel, type AugmentOpNode, type HeadLayerNode, type NumberNode, type Setting, type Statement, type UnfreezeNode, type Word } from './ast.ts';

export function tokenSpan(t: IToken): Span {
  return { start: t.startOffset, end: t.startOffset + t.image.length };
}

function unquote(image: string): string {
  const body = image.endsWith('"') && image.length > 1 ? image.slice(1, -1) : image.slice(1);
  return body.replace(/\\(.)/g, '$1');
}

class Cursor {
  private i = 0;
  constructor(
    private readonly tokens: readonly IToken[],
    private readonly diagnostics: Diagnostic[],
  ) {}

  get done(): boolean {
    return this.i >= this.tokens.length;
  }

  peek(): string | undefined {
    const t = this.tokens[this.i];
    return t?.tokenType.name === 'StringLiteral' ? undefined : t?.image;
  }

  peekKind(): string | undefined {
    return this.tokens[this.i]?.tokenType.name;
  }

  next(): IToken {
    const t = this.tokens[this.i++];
    if (!t) throw new Error('to-ast: ran past the statement (grammar and AST builder disagree)');
    return t;
  }

  word(): Word {
    const t = this.next();
    const quoted = t.tokenType.name === 'StringLiteral';
    return { text: quoted ? unquote(t.image) : t.image, quoted, span: tokenSpan(t) };
  }

  number(): NumberNode {
    const t = this.next();
    return { value: Number(t.image), text: t.image, span: tokenSpan(t) };
  }

  /** Records an option; a second occurrence in the same statement is reported and the first kept. */
  once<T extends { span: Span }>(seen: Map<string, Span>, name: string, keywordSpan: Span, value: T): T | undefined {
    const first = seen.get(name);
    if (first) {
      this.diagnostics.push(
        error('option-repeated', `'${name}' is given twice in this statement; keep one`, keywordSpan, [
          { message: `first '${name}' here`, span: first },
        ]),
      );
      return undefined;
    }
    seen.set(name, keywordSpan);
    return value;
  }
}

export function toStatement(tokens: readonly IToken[], span: Span, diagnostics: Diagnostic[]): Statement {
  const c = new Cursor(tokens, diagnostics);
  const head = c.next();
  const seen = new Map<string, Span>();
  const opt = <T extends { span: Span }>(read: () => T): { kw: IToken; value: T | undefined } => {
    const kw = c.next();
    return { kw, value: c.once(seen, kw.image, tokenSpan(kw), read()) };
  };

  switch (head.image) {
    case 'use': {
      const model = c.word();
      let weights: Word | undefined, input: NumberNode | undefined, cut: Word | undefined;
      while (!c.done) {
        const kw = c.peek();
        if (kw === 'weights') weights = opt(() => c.word()).value ?? weights;
        else if (kw === 'input') input = opt(() => c.number()).value ?? input;
        else cut = opt(() => c.word()).value ?? cut;
      }
      return { kind: 'use', model, ...(weights && { weights }), ...(input && { input }), ...(cut && { cut }), span };
    }
    case 'data': {
      const path = c.word();
      let split: NumberNode | undefined, val: Word | undefined, balance: Span | undefined;
      while (!c.done) {
        if (c.peek() === 'split') split = opt(() => c.number()).value ?? split;
        else if (c.peek() === 'balance') {
          const at = tokenSpan(c.next());
          balance = c.once(seen, 'balance', at, { span: at })?.span ?? balance;
        } else val = opt(() => c.word()).value ?? val;
      }
      return { kind: 'data', path, ...(split && { split }), ...(val && { val }), ...(balance && { balance }), span };
    }
    case 'head': {
      const layers: HeadLayerNode[] = [];
      while (!c.done) {
        const kw = c.next();
        if (kw.image === 'dense') {
          const units = c.number();
          const activation = c.peekKind() === 'Identifier' ? c.word() : undefined;
          const end = (activation ?? units).span.end;
          layers.push({ kind: 'dense', units, ...(activation && { activation }), span: { start: kw.startOffset, end } });
        } else {
          const rate = c.number();
          layers.push({ kind: 'dropout', rate, span: { start: kw.startOffset, end: rate.span.end } });
        }
      }
      return { kind: 'head', layers, span };
    }
    case 'freeze': {
      const mode = c.next().image;
      if (mode === 'until') return { kind: 'freeze', mode, target: c.word(), span };
      return { kind: 'freeze', mode: mode === 'all' ? 'all' : 'none', span };
    }
    case 'augment': {
      const ops: AugmentOpNode[] = [];
      while (!c.done) {
        if (c.peekKind() === 'Comma') c.next();
        const name = c.word();
        let arg: NumberNode | Word | undefined;
        if (c.peekKind() === 'NumberLiteral') arg = c.number();
        else if (c.peekKind() === 'Identifier') arg = c.word();
        ops.push({ name, ...(arg && { arg }), span: { start: name.span.start, end: (arg ?? name).span.end } });
      }
      return { kind: 'augment', ops, span };
    }
    case 'phase': {
      const name = c.peekKind() === 'Identifier' || c.peekKind() === 'StringLiteral' ? c.word() : undefined;
      const settings: Setting[] = [];
      const unfreeze: UnfreezeNode[] = [];
      let decay: NumberNode | undefined;
      while (!c.done) {
        const kw = c.peek();
        if (kw === 'unfreeze') unfreeze.push(readUnfreeze(c));
        else if (kw === 'decay') decay = opt(() => c.number()).value ?? decay;
        else {
          const s = readSetting(c);
          if (c.once(seen, settingLabel(s), s.span, s)) settings.push(s);
        }
      }
      return { kind: 'phase', ...(name && { name }), settings, unfreeze, ...(decay && { decay }), span };
    }
    case 'adapt': {
      const method = c.word();
      const fields: Partial<Record<'weight' | 'threshold' | 'rounds', NumberNode> & Record<'target' | 'at', Word>> = {};
      while (!c.done) {
        const kw = c.peek()!;
        if (kw === 'target' || kw === 'at') {
          const v = opt(() => c.word()).value;
          if (v) fields[kw] = v;
        } else if (kw === 'weight' || kw === 'threshold' || kw === 'rounds') {
          const v = opt(() => c.number()).value;
          if (v) fields[kw] = v;
        }
      }
      return { kind: 'adapt', method, ...fields, span };
    }
    case 'early': {
      c.next(); // `stop`
      let patience: NumberNode | undefined, monitor: Word | undefined;
      while (!c.done) {
        if (c.peek() === 'patience') patience = opt(() => c.number()).value ?? patience;
        else monitor = opt(() => c.word()).value ?? monitor;
      }
      return { kind: 'earlyStop', ...(patience && { patience }), ...(monitor && { monitor }), span };
    }
    case 'checkpoint': {
      let mode: Word | undefined, every: NumberNode | undefined, monitor: Word | undefined;
      if (c.peek() === 'every') {
        c.next();
        every = c.number();
      } else mode = c.word();
      if (!c.done) {
        c.next();
        monitor = c.word();
      }
      return { kind: 'checkpoint', ...(mode && { mode }), ...(every && { every }), ...(monitor && { monitor }), span };
    }
    case 'label':
      c.next(); // `smoothing`
      return { kind: 'labelSmoothing', value: c.number(), span };
    case 'seed':
      return { kind: 'seed', value: c.number(), span };
    case 'evaluate': {
      const path = c.word();
      const tta = c.done ? undefined : tokenSpan(c.next());
      return { kind: 'evaluate', path, ...(tta && { tta }), span };
    }
    case 'export':
      return { kind: 'export', path: c.word(), span };
    default: {
      // Top-level training setting (epochs, lr, batch, optimizer, schedule, clip): rewind by re-reading.
      const setting = readSetting(new Cursor(tokens, diagnostics));
      return { kind: 'setting', setting, span };
    }
  }
}

function readUnfreeze(c: Cursor): UnfreezeNode {
  const kw = c.next();
  if (c.peek() === 'all') {
    const all = c.next();
    return { all: true, targets: [], span: { start: kw.startOffset, end: tokenSpan(all).end } };
  }
  const targets: Word[] = [c.word()];
  while (c.peekKind() === 'Comma') {
    c.next();
    targets.push(c.word());
  }
  return { all: false, targets, span: { start: kw.startOffset, end: targets[targets.length - 1]!.span.end } };
}

function readSetting(c: Cursor): Setting {
  const kw = c.next();
  /** The options given so far: each at most once. */
  const seen = new Map<string, Span>();
  const start = kw.startOffset;
  const to = (end: number): Span => ({ start, end });
  switch (kw.image) {
    case 'epochs':
    case 'batch': {
      const value = c.number();
      return { kind: kw.image, value, span: to(value.span.end) };
    }
    case 'lr': {
      if (c.peek() === 'auto') {
        const auto = tokenSpan(c.next());
        if (c.peek() !== 'steps') return { kind: 'lrAuto', auto, span: to(auto.end) };
        c.next();
        const steps = c.number();
        return { kind: 'lrAuto', auto, steps, span: to(steps.span.end) };
      }
      const unit = c.peekKind() === 'NumberLiteral' ? undefined : c.word();
      const value = c.number();
      return { kind: 'lr', ...(unit && { unit }), value, span: to(value.span.end) };
    }
    case 'optimizer': {
      const name = c.word();
      const opts: { momentum?: NumberNode; weightDecay?: NumberNode } = {};
      let end = name.span.end;
      for (let k = c.peek(); k === 'momentum' || k === 'weight'; k = c.peek()) {
        const kw = tokenSpan(c.next());
        const last = k === 'weight' ? tokenSpan(c.next()) : kw; // `weight decay`
        const v = c.number();
        const field = k === 'weight' ? 'weightDecay' : 'momentum';
        opts[field] = c.once(seen, k === 'weight' ? 'weight decay' : k, { start: kw.start, end: last.end }, v) ?? opts[field];
        end = v.span.end;
      }
      return { kind: 'optimizer', name, ...opts, span: to(end) };
    }
    case 'clip': {
      if (c.peek() === 'none') return { kind: 'clip', span: to(tokenSpan(c.next()).end) };
      const mode = c.word();
      const max = c.number();
      return { kind: 'clip', mode, max, span: to(max.span.end) };
    }
    default: {
      const name = c.word();
      const opts: Partial<Record<'warmup' | 'min' | 'every' | 'gamma', NumberNode>> = {};
      let end = name.span.end;
      const keys = ['warmup', 'min', 'every', 'gamma'] as const;
      for (let k = c.peek(); k !== undefined && (keys as readonly string[]).includes(k); k = c.peek()) {
        const kw = c.next();
        const v = c.number();
        opts[k as (typeof keys)[number]] = c.once(seen, k, tokenSpan(kw), v) ?? opts[k as (typeof keys)[number]];
        end = v.span.end;
      }
      return { kind: 'schedule', name, ...opts, span: to(end) };
    }
  }
}
