/** `adapt`: a known method with its target folder, only the options that method takes, and a model it can work on. */
import { error, warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { didYouMean, quoteList } from '../diagnostics/suggest.ts';
import { BLOCKS } from '../zoo/catalog.ts';
import type { Check, CheckContext } from './context.ts';
import { keptBlocks } from './targets.ts';
import { resolveTrainability } from './trainability.ts';
import { ADABN_AT, ADAPT_METHODS, isOneOf } from './vocabulary.ts';

const OPTIONS: Record<(typeof ADAPT_METHODS)[number], readonly string[]> = {
  adabn: ['at'],
  coral: ['weight'],
  dann: ['weight'],
  pseudolabel: ['threshold', 'rounds'],
};

export const adaptCheck: Check = {
  name: 'adapt',
  run(ctx) {
    const s = ctx.first('adapt');
    if (!s) return [];
    const found: Diagnostic[] = [];
    const method = s.method.text;
    if (!isOneOf(ADAPT_METHODS, method)) {
      return [error('unknown-adapt-method', `unknown adaptation method '${method}'${didYouMean(method, ADAPT_METHODS) || `; choose from ${quoteList(ADAPT_METHODS)}`}`, s.method.span)];
    }
    if (!s.target) {
      found.push(error('adapt-missing-target', `'adapt ${method}' needs the unlabelled target images: add target "dir"`, { start: s.span.end, end: s.span.end }));
    } else if (!s.target.quoted || s.target.text.trim() === '') {
      found.push(error('bad-path', `target must be a quoted, non-empty folder path`, s.target.span));
    }
    const allowed = OPTIONS[method];
    for (const [name, node] of [['weight', s.weight], ['threshold', s.threshold], ['rounds', s.rounds], ['at', s.at]] as const) {
      if (node && !allowed.includes(name)) {
        found.push(error('option-not-applicable', `'${name}' does not apply to ${method}${allowed.length ? `; it takes ${quoteList(allowed)}` : ''}`, node.span));
      }
    }
    if (s.at && !isOneOf(ADABN_AT, s.at.text)) {
      found.push(error('bad-option', `adabn runs 'at end' (after training) or 'at phase' (after each phase), found '${s.at.text}'`, s.at.span));
    }
    if (method === 'adabn' && ctx.zoo && !ctx.zoo.hasBatchNorm) {
      found.push(error('adapt-no-batchnorm', `adabn re-estimates BatchNorm statistics, but ${ctx.zoo.name} has no BatchNorm layers; use coral or dann`, s.method.span));
    }
    if ((method === 'coral' || method === 'dann') && ctx.zoo && !baseEverTrains(ctx)) {
      const last = BLOCKS[keptBlocks(ctx) - 1];
      found.push(
        warning(
          'adapt-frozen-base',
          `${method} aligns the features the base passes to the head, but no phase trains any of the base, so its loss cannot change them${method === 'dann' ? ' (only its domain classifier learns)' : ''}; unfreeze part of the base in a phase (e.g. phase adapt unfreeze ${last} lr 1e-4), or use adabn or pseudolabel, which work with a frozen base`,
          s.method.span,
        ),
      );
    }
    return found;
  },
};

/** Whether some phase trains a layer of the base: a block, a named layer, or the part of a block after a freeze boundary. */
function baseEverTrains(ctx: CheckContext): boolean {
  return resolveTrainability(ctx).phases.some((p) => p.trainable.length > 1 || p.frozenThrough !== null || p.trainableLayers.length > 0);
}
