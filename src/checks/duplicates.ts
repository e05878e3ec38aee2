/** Statements that configure one thing may appear once; a second copy is an error pointing at the first. */
import { error, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { settingLabel, type Statement } from '../syntax/ast.ts';
import type { Check } from './context.ts';

const SINGLE: ReadonlySet<Statement['kind']> = new Set(['use', 'data', 'head', 'freeze', 'adapt', 'earlyStop', 'checkpoint', 'labelSmoothing', 'seed', 'evaluate', 'export']);

function label(s: Statement): string {
  if (s.kind === 'earlyStop') return 'early stop';
  if (s.kind === 'labelSmoothing') return 'label smoothing';
  if (s.kind === 'setting') return settingLabel(s.setting);
  return s.kind;
}

export const duplicatesCheck: Check = {
  name: 'duplicates',
  run(ctx) {
    const found: Diagnostic[] = [];
    const seen = new Map<string, Statement>();
    for (const s of ctx.script.statements) {
      // Top-level settings shape the first phase; each may be given once there. Phases and augment lists repeat freely.
      if (!SINGLE.has(s.kind) && s.kind !== 'setting') continue;
      const key = label(s);
      const first = seen.get(key);
      if (first) {
        found.push(
          error('duplicate-statement', `'${key}' is already given on an earlier line; a script has one '${key}'${s.kind === 'setting' ? ' before its phases (use `phase` to change it later)' : ''}`, s.span, [
            { message: `first '${key}' here`, span: first.span },
          ]),
        );
      } else seen.set(key, s);
    }
    return found;
  },
};
