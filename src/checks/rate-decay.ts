/**
 * A phase's `decay` is the per-block decay of its learning rate (each block learns at `decay` times
 * the rate of the block above it). Typical values are 0.3 to 0.9; a value like 0.01 or 1e-4 is
 * weight decay as other tools spell it, and as a rate decay it all but freezes every block below the
 * deepest: a warning says so and how weight decay is written.
 */
import { warning } from '../diagnostics/diagnostic.ts';
import type { Check } from './context.ts';

/** Below this, a per-block rate decay is taken for a weight decay written in the wrong place. */
export const STEEP_DECAY = 0.1;

export const rateDecayCheck: Check = {
  name: 'rate-decay',
  run(ctx) {
    return ctx.script.statements.flatMap((s) => {
      if (s.kind !== 'phase' || !s.decay || !(s.decay.value > 0 && s.decay.value < STEEP_DECAY)) return [];
      const d = s.decay;
      const squared = Number((d.value * d.value).toPrecision(2));
      const second = squared < 1e-3 ? squared.toExponential() : String(squared);
      return [
        warning(
          'rate-decay-steep',
          `'decay ${d.text}' is the per-block rate decay: each block learns at ${d.text} times the rate of the block above it (the next at ${second} times), so the lower blocks barely train; for weight decay write 'optimizer adamw weight decay ${d.text}' (a per-block decay is typically 0.3 to 0.9)`,
          d.span,
        ),
      ];
    });
  },
};
