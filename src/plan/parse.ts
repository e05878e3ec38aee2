/**
 * A plan that comes as JSON (a `tl plan` file, a job's stored plan, one a program built or edited)
 * checked against the schema before anything runs it: what is wrong, at which field; and the
 * defaults of fields added since it was written, filled in (plans stored before `clip` get none).
 *
 * @example
 * const read = parsePlan(JSON.parse(readFileSync('quickstart.plan.json', 'utf8')));
 * if (!read.plan) throw new Error(read.problems.join('; '));
 */
import { Plan } from './schema.ts';
import { PLAN_VERSION } from './version.ts';

export type ParsedPlan = { readonly plan: Plan; readonly problems?: undefined } | { readonly plan?: undefined; readonly problems: readonly string[] };

export function parsePlan(value: unknown): ParsedPlan {
  const version = (value as { version?: unknown } | null)?.version;
  if (typeof value === 'object' && value !== null && version !== PLAN_VERSION) {
    return { problems: [`version: this TL reads plans of version ${PLAN_VERSION}, not ${JSON.stringify(version ?? null)}`] };
  }
  const parsed = Plan.safeParse(value);
  if (parsed.success) return { plan: parsed.data };
  return { problems: parsed.error.issues.map((i) => `${i.path.length ? `${pathText(i.path)}: ` : ''}${i.message.replace(/^Invalid input: /, '')}`) };
}

/** `phases[1].lr`, as the field is written in JavaScript. */
function pathText(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}
