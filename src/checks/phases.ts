/**
 * The phases as written: the first is the settings before any `phase`, then one per `phase`
 * statement, each named as the plan names it. What the checks that follow settings from phase to
 * phase, and the plan builder, walk; `phaseViews` carries the rate, epochs and schedule through them.
 */
import type { Setting } from '../syntax/ast.ts';
import type { CheckContext, StatementOf } from './context.ts';
import { PHASE_DEFAULTS } from './vocabulary.ts';

type Schedule = Extract<Setting, { kind: 'schedule' }>;

export interface WrittenPhase {
  /** The plan's name: 'warmup' for the first, then the phase's own name or phase2, phase3... */
  readonly name: string;
  /** Absent for the first phase, which no statement opens. */
  readonly statement: StatementOf<'phase'> | undefined;
  /** The settings written in it (for the first, the top-level ones), in order. */
  readonly settings: readonly Setting[];
}

/** The plan's name of phase `index` (0: the settings before any `phase`). */
export function phaseName(index: number, statement: StatementOf<'phase'> | undefined): string {
  return statement?.name?.text ?? (index === 0 ? 'warmup' : `phase${index + 1}`);
}

export function writtenPhases(ctx: CheckContext): WrittenPhase[] {
  const topLevel = ctx.script.statements.flatMap((s) => (s.kind === 'setting' ? [s.setting] : []));
  return [
    { name: phaseName(0, undefined), statement: undefined, settings: topLevel },
    ...ctx.all('phase').map((statement, i) => ({ name: phaseName(i + 1, statement), statement, settings: statement.settings })),
  ];
}

/** One phase's settings as they stand in it, after what carries from the phases before. */
export interface PhaseView {
  readonly name: string;
  readonly epochs: number;
  /** Null where the rate is searched (`lr auto`): known only when the phase starts. */
  readonly lr: { readonly value: number; readonly text: string } | null;
  readonly schedule: Schedule | undefined;
}

/** Each phase's epochs, rate and schedule, carried as the plan builder carries them. */
export function phaseViews(ctx: CheckContext): PhaseView[] {
  let lr: PhaseView['lr'] = { value: PHASE_DEFAULTS.lr, text: PHASE_DEFAULTS.lr.toExponential() };
  let epochs: number = PHASE_DEFAULTS.epochs;
  let schedule: Schedule | undefined;
  return writtenPhases(ctx).map(({ name, settings }) => {
    for (const s of settings) {
      if (s.kind === 'lr' && !s.unit) lr = s.value;
      if (s.kind === 'lrAuto') lr = null;
      if (s.kind === 'epochs') epochs = s.value.value;
      if (s.kind === 'schedule') schedule = s;
    }
    return { name, epochs, lr, schedule };
  });
}
