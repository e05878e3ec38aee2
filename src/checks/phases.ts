/**
 * The phases as written: the first is the settings before any `phase`, then one per `phase`
 * statement, each named as the plan names it. What the checks that follow settings from phase to
 * phase, and the plan builder, walk.
 */
import type { Setting } from '../syntax/ast.ts';
import type { CheckContext, StatementOf } from './context.ts';

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
