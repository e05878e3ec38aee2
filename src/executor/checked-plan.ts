/**
 * The executor's entry points take a plan as a program may have built or edited it (the library's
 * `runPlan`, a JSON file, a stored job), so each checks it against the plan schema first: a field
 * out of place fails here with its path, not deep in a training step.
 */
import { parsePlan } from '../plan/parse.ts';
import type { Plan } from '../plan/schema.ts';
import { ExecutorError } from './errors.ts';

/** The plan, checked, with the defaults of fields added since it was written filled in; else ExecutorError `bad-plan`. */
export function checkedPlan(value: unknown): Plan {
  const read = parsePlan(value);
  if (read.plan) return read.plan;
  throw new ExecutorError('bad-plan', `not a TL plan: ${read.problems.slice(0, 5).join('; ')}${read.problems.length > 5 ? `; and ${read.problems.length - 5} more` : ''}`);
}
