/**
 * A training setting as a statement of its own shapes the first phase, wherever it stands. Written
 * after a `phase` (often on an indented line under it, as if it belonged to it), it still changes the
 * first phase, and so every later phase that does not set it again: almost never what was meant.
 */
import { warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { settingLabel } from '../syntax/ast.ts';
import type { Check, StatementOf } from './context.ts';
import { phaseName } from './phases.ts';

export const settingPlacementCheck: Check = {
  name: 'setting-placement',
  run(ctx) {
    const found: Diagnostic[] = [];
    let phase: StatementOf<'phase'> | undefined;
    let phases = 0;
    for (const s of ctx.script.statements) {
      if (s.kind === 'phase') {
        phase = s;
        phases++;
      }
      if (s.kind !== 'setting' || !phase) continue;
      const name = `phase '${phaseName(phases, phase)}'`;
      found.push(
        warning(
          'setting-after-phase',
          `'${settingLabel(s.setting)}' as a statement of its own sets the first phase, and through it every later one that does not set its own, not ${name} before it; put it in ${name} (on its line) to change that phase alone, or above the first phase`,
          s.span,
          [{ message: `${name} here`, span: phase.span }],
        ),
      );
    }
    return found;
  },
};
