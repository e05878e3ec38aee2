/**
 * Block and layer references (`freeze until`, `unfreeze`, `cut`): a bare word names a coarse block,
 * a quoted string names a native layer. Resolution is shared by the checks and the plan builder.
 */
import { error, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { didYouMean, quoteList } from '../diagnostics/suggest.ts';
import type { Word } from '../syntax/ast.ts';
import { BLOCKS, blockOfLayer, type BlockName } from '../zoo/catalog.ts';
import type { Check, CheckContext } from './context.ts';

export type ResolvedTarget =
  | { readonly kind: 'block'; readonly block: BlockName; readonly index: number }
  /** `block` is known for zoo models; a user model's layers are only known when it is loaded. */
  | { readonly kind: 'layer'; readonly layer: string; readonly block: BlockName | undefined; readonly index: number | undefined };

/** How many blocks the base keeps after `cut` (5 without one, or when it cannot be known yet). */
export function keptBlocks(ctx: CheckContext): number {
  const cut = ctx.use?.cut;
  if (!cut) return BLOCKS.length;
  const r = resolveTarget(ctx, cut, BLOCKS.length);
  if ('code' in r) return BLOCKS.length;
  return r.index === undefined ? BLOCKS.length : r.index + 1;
}

export function resolveTarget(ctx: CheckContext, word: Word, kept: number): ResolvedTarget | Diagnostic {
  if (!word.quoted) {
    const index = BLOCKS.indexOf(word.text as BlockName);
    if (index < 0) {
      const hint = word.text.includes('_') ? `; native layer names go in quotes: "${word.text}"` : didYouMean(word.text, BLOCKS);
      return error('unknown-block', `unknown block '${word.text}'; the blocks are ${quoteList(BLOCKS.slice(0, kept))}${hint}`, word.span);
    }
    if (index >= kept) {
      return error('block-after-cut', `'${word.text}' is cut away by 'cut ${ctx.use?.cut?.quoted ? `"${ctx.use.cut.text}"` : ctx.use?.cut?.text}'; the base keeps ${quoteList(BLOCKS.slice(0, kept))}`, word.span);
    }
    return { kind: 'block', block: BLOCKS[index]!, index };
  }
  const zoo = ctx.zoo;
  if (!zoo) return { kind: 'layer', layer: word.text, block: undefined, index: undefined };
  const block = blockOfLayer(zoo, word.text);
  if (!block) {
    return error('unknown-layer', `${zoo.name} has no layer "${word.text}"${didYouMean(word.text, zoo.layers) || `; blocks end at ${quoteList(zoo.blockEnds)}`}`, word.span);
  }
  const index = BLOCKS.indexOf(block);
  if (index >= kept) return error('block-after-cut', `layer "${word.text}" is in ${block}, which 'cut' removes`, word.span);
  return { kind: 'layer', layer: word.text, block, index };
}

export const targetsCheck: Check = {
  name: 'targets',
  run(ctx) {
    const found: Diagnostic[] = [];
    const cut = ctx.use?.cut;
    if (cut) {
      const r = resolveTarget(ctx, cut, BLOCKS.length);
      if ('code' in r) found.push(r);
    }
    const kept = keptBlocks(ctx);
    const freeze = ctx.first('freeze');
    const targets: Word[] = [];
    if (freeze?.target) targets.push(freeze.target);
    for (const phase of ctx.all('phase')) for (const u of phase.unfreeze) targets.push(...u.targets);
    // (`head` is a keyword the grammar does not take here: the parser says the head always trains.)
    for (const t of targets) {
      const r = resolveTarget(ctx, t, kept);
      if ('code' in r) found.push(r);
    }
    return found;
  },
};
