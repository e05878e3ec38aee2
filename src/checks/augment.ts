/** `augment`: known ops, each with an argument of the right kind and range. */
import { error, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { didYouMean, quoteList } from '../diagnostics/suggest.ts';
import type { AugmentOpNode } from '../syntax/ast.ts';
import type { Check } from './context.ts';
import { AUGMENT_NAMES, AUGMENT_OPS, FLIP_MODES, isOneOf } from './vocabulary.ts';

function checkOp(op: AugmentOpNode): Diagnostic | undefined {
  const name = op.name.text;
  if (!isOneOf(AUGMENT_NAMES, name)) {
    return error('unknown-augment', `unknown augmentation '${name}'${didYouMean(name, AUGMENT_NAMES) || `; choose from ${quoteList(AUGMENT_NAMES)}`}`, op.name.span);
  }
  const arg = op.arg;
  if (!arg) return undefined;
  if (name === 'flip') {
    if ('value' in arg || !isOneOf(FLIP_MODES, arg.text)) {
      return error('bad-augment-arg', `flip takes ${quoteList(FLIP_MODES)}, found ${'value' in arg ? arg.text : `'${arg.text}'`}`, arg.span);
    }
    return undefined;
  }
  const spec = AUGMENT_OPS[name];
  if (!('value' in arg)) return error('bad-augment-arg', `${name} takes a number (${spec.what}), found '${arg.text}'`, arg.span);
  const v = arg.value;
  const tooHigh = 'maxExclusive' in spec && spec.maxExclusive ? v >= spec.max : v > spec.max;
  if (!Number.isFinite(v) || v <= spec.min || tooHigh) {
    return error('bad-augment-arg', `${name} takes ${spec.what} above ${spec.min} and ${'maxExclusive' in spec && spec.maxExclusive ? 'below' : 'at most'} ${spec.max}, found ${arg.text}`, arg.span);
  }
  return undefined;
}

export const augmentCheck: Check = {
  name: 'augment',
  run(ctx) {
    const found: Diagnostic[] = [];
    const seen = new Map<string, AugmentOpNode>();
    for (const s of ctx.all('augment')) {
      for (const op of s.ops) {
        const d = checkOp(op);
        if (d) found.push(d);
        const first = seen.get(op.name.text);
        if (first) {
          found.push(error('duplicate-augment', `'${op.name.text}' is already in the augmentation list; give it once`, op.span, [{ message: 'first here', span: first.span }]));
        } else seen.set(op.name.text, op);
      }
    }
    return found;
  },
};
