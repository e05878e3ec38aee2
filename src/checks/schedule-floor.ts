/**
 * `schedule cosine min X` falls from each phase's rate to X. Settings carry into later phases, so a
 * floor set early may stand above a later phase's lower rate, and then the rate rises through that
 * phase instead of falling.
 */
import { warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { NumberNode, Setting } from '../syntax/ast.ts';
import type { Check } from './context.ts';
import { PHASE_DEFAULTS } from './vocabulary.ts';

export const scheduleFloorCheck: Check = {
  name: 'schedule-floor',
  run(ctx) {
    const found: Diagnostic[] = [];
    const warned = new Set<NumberNode>();
    let lr: { value: number; text: string } = { value: PHASE_DEFAULTS.lr, text: PHASE_DEFAULTS.lr.toExponential() };
    let min: NumberNode | undefined;
    const apply = (s: Setting) => {
      if (s.kind === 'lr' && !s.unit) lr = s.value;
      if (s.kind === 'schedule') min = s.name.text === 'cosine' ? s.min : undefined;
    };
    const topLevel = ctx.script.statements.flatMap((s) => (s.kind === 'setting' ? [s.setting] : []));
    const phases = [{ name: 'warmup', settings: topLevel }, ...ctx.all('phase').map((p, i) => ({ name: p.name?.text ?? `phase${i + 2}`, settings: p.settings }))];
    for (const phase of phases) {
      phase.settings.forEach(apply);
      if (!min || min.value < lr.value || warned.has(min)) continue;
      warned.add(min);
      found.push(
        warning(
          'schedule-floor-above-lr',
          `cosine's min ${min.text} is not below the rate of phase '${phase.name}' (${lr.text}), so that phase's rate ${min.value > lr.value ? 'rises' : 'stays'} instead of falling; give a lower min, or set the schedule again in that phase`,
          min.span,
        ),
      );
    }
    return found;
  },
};
