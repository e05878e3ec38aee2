/** A frozen base with no pretrained weights only feeds the head random features: almost never what was meant. */
import { warning } from '../diagnostics/diagnostic.ts';
import type { Check } from './context.ts';

export const frozenRandomBaseCheck: Check = {
  name: 'frozen-random-base',
  run(ctx) {
    const use = ctx.use;
    if (!use || !ctx.zoo) return [];
    const noWeights = use.weights ? !use.weights.quoted && use.weights.text === 'none' : ctx.zoo.imagenet === 'unavailable';
    const freeze = ctx.first('freeze');
    if (!noWeights || freeze?.mode === 'none') return [];
    const what = freeze ? `'freeze ${freeze.mode}${freeze.target ? ` ${freeze.target.quoted ? `"${freeze.target.text}"` : freeze.target.text}` : ''}'` : 'the default (the whole base starts frozen)';
    return [
      warning('frozen-random-base', `${ctx.zoo.name} starts from random weights here, yet ${what} keeps base layers from training, so they only pass random features to the head; add 'freeze none' or unfreeze them in a phase`, (freeze ?? use).span),
    ];
  },
};
