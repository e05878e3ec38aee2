/**
 * Whether a schedule fits the phases it carries into. Settings carry into later phases, so a
 * schedule set once may meet a phase it does not suit, and then it does not do what it says:
 * - `cosine min X` falls from the phase's rate to X; with X not below the rate it rises instead;
 * - `warmup N` ramps up over N epochs; a phase of N epochs or fewer never reaches its rate;
 * - `step every N` lowers the rate each N epochs after warmup; a phase too short never steps;
 * - `checkpoint every N` counts each phase's epochs from 1: if no phase runs N, none is saved.
 */
import { warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { NumberNode, Setting } from '../syntax/ast.ts';
import type { Check } from './context.ts';
import { phaseViews } from './phases.ts';
import { DEFAULTS } from './vocabulary.ts';

type Schedule = Extract<Setting, { kind: 'schedule' }>;

export const scheduleFitCheck: Check = {
  name: 'schedule-fit',
  run(ctx) {
    const found: Diagnostic[] = [];
    const warned = new Set<NumberNode | Schedule>();
    const once = (node: NumberNode | Schedule, code: string, message: string) => {
      if (warned.has(node)) return;
      warned.add(node);
      found.push(warning(code, message, node.span));
    };
    const views = phaseViews(ctx);
    for (const phase of views) {
      const { schedule, epochs, lr } = phase;
      if (!schedule || epochs === 0) continue;
      const { min, warmup, every } = schedule;
      const kind = schedule.name.text;
      const name = `phase '${phase.name}'`;
      if (kind === 'cosine' && min && lr && min.value >= lr.value) {
        once(min, 'schedule-floor-above-lr', `cosine's min ${min.text} is not below the rate of ${name} (${lr.text}), so that phase's rate ${min.value > lr.value ? 'rises' : 'stays'} instead of falling; give a lower min, or set the schedule again in that phase`);
      }
      if (warmup && warmup.value >= epochs) {
        once(warmup, 'schedule-outlasts-phase', `a warmup of ${warmup.text} epochs is as long as ${name} (${epochs} epoch${epochs === 1 ? '' : 's'}), whose rate then never reaches ${lr?.text ?? 'the rate it searches'}; shorten the warmup, or set the schedule again in that phase`);
      } else if (kind === 'step' && epochs - (warmup?.value ?? 0) <= (every?.value ?? DEFAULTS.stepEvery)) {
        once(every ?? schedule, 'schedule-outlasts-phase', `'step every ${every?.text ?? DEFAULTS.stepEvery}' never steps in ${name} (${epochs} epoch${epochs === 1 ? '' : 's'}${warmup ? ` after a warmup of ${warmup.text}` : ''}); step more often, or set the schedule again in that phase`);
      }
    }
    const every = ctx.first('checkpoint')?.every;
    const longest = views.reduce((most, p) => Math.max(most, p.epochs), 0);
    if (every && every.value > longest) {
      found.push(warning('checkpoint-never', `'checkpoint every ${every.text}' saves nothing: each phase counts its epochs afresh, and the longest runs ${longest}; checkpoint more often, or 'checkpoint best'`, every.span));
    }
    return found;
  },
};
