/**
 * The compiler: source text -> training plan, as a pure function (no I/O, usable in a browser).
 *
 * @example
 * const { plan, diagnostics } = compile('use resnet50; freeze until block4; phase lr 1e-4 unfreeze block5');
 * if (plan) console.log(plan.phases.map((p) => p.trainable));
 */
import { runChecks } from './checks/index.ts';
import { hasErrors, type Diagnostic } from './diagnostics/diagnostic.ts';
import { buildPlan } from './plan/build.ts';
import type { Plan } from './plan/schema.ts';
import { parse } from './syntax/parse.ts';

export interface CompileResult {
  /** Present when there are no errors (warnings allowed). */
  readonly plan?: Plan;
  /** Sorted by position. */
  readonly diagnostics: readonly Diagnostic[];
}

export function compile(source: string): CompileResult {
  const parsed = parse(source);
  const checked = runChecks(parsed.script);
  const diagnostics = [...parsed.diagnostics, ...checked.diagnostics].sort((a, b) => a.span.start - b.span.start || a.span.end - b.span.end);
  if (hasErrors(diagnostics)) return { diagnostics };
  return { plan: buildPlan(checked.context, source), diagnostics };
}
