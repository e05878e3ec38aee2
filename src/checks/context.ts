/** What every check sees: the script, its statements by kind, and the zoo entry the script uses. */
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Script, Statement, StatementKind } from '../syntax/ast.ts';
import { findZooModel, type ZooEntry } from '../zoo/catalog.ts';

export type StatementOf<K extends StatementKind> = Extract<Statement, { kind: K }>;

export interface CheckContext {
  readonly script: Script;
  /** The first `use`, if any. */
  readonly use: StatementOf<'use'> | undefined;
  /** The zoo entry named by `use`, when it names one (undefined for a model path or an unknown name). */
  readonly zoo: ZooEntry | undefined;
  all<K extends StatementKind>(kind: K): StatementOf<K>[];
  first<K extends StatementKind>(kind: K): StatementOf<K> | undefined;
}

export function createContext(script: Script): CheckContext {
  const byKind = new Map<StatementKind, Statement[]>();
  for (const s of script.statements) {
    const list = byKind.get(s.kind);
    if (list) list.push(s);
    else byKind.set(s.kind, [s]);
  }
  const all = <K extends StatementKind>(kind: K) => (byKind.get(kind) ?? []) as StatementOf<K>[];
  const use = all('use')[0];
  return {
    script,
    use,
    zoo: use && !use.model.quoted ? findZooModel(use.model.text) : undefined,
    all,
    first: (kind) => all(kind)[0],
  };
}

/** One concern of the language's meaning: reads the context, returns what it finds. */
export interface Check {
  readonly name: string;
  run(ctx: CheckContext): Diagnostic[];
}
