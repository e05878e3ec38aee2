/** `data`, `evaluate`, `export`: paths are quoted and non-empty; without `data` the plan cannot run. */
import { error, warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Word } from '../syntax/ast.ts';
import type { Check } from './context.ts';

function path(word: Word | undefined, what: string): Diagnostic | undefined {
  if (!word) return undefined;
  if (word.text.trim() === '') return error('bad-path', `${what} path is empty`, word.span);
  if (word.text.includes('\0')) return error('bad-path', `${what} path contains a NUL character`, word.span);
  return undefined;
}

export const dataCheck: Check = {
  name: 'data',
  run(ctx) {
    const found: (Diagnostic | undefined)[] = [];
    const data = ctx.first('data');
    const last = ctx.script.statements[ctx.script.statements.length - 1];
    if (!data && ctx.use && last && !ctx.script.unreadable.includes('data')) {
      // Pointed at the end of the script, where the statement would go.
      found.push(warning('missing-data', `no 'data' statement: the plan compiles but cannot run until you add one, e.g. data "images/" split 0.2`, { start: last.span.end, end: last.span.end }));
    }
    if (data) {
      found.push(path(data.path, 'data'), path(data.val, 'validation'));
      if (data.split && data.val) {
        found.push(warning('split-ignored', `'split' is ignored when 'val' gives a validation set`, data.split.span));
      }
    }
    found.push(path(ctx.first('evaluate')?.path, 'evaluate'), path(ctx.first('export')?.path, 'export'));
    return found.filter((d): d is Diagnostic => d !== undefined);
  },
};
