/** `data`, `evaluate`, `export`: paths are quoted and non-empty; without `data` the plan cannot run; a test set is held out. */
import { error, warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Word } from '../syntax/ast.ts';
import type { Check } from './context.ts';

function path(word: Word | undefined, what: string): Diagnostic | undefined {
  if (!word) return undefined;
  if (word.text.trim() === '') return error('bad-path', `${what} path is empty`, word.span);
  if (word.text.includes('\0')) return error('bad-path', `${what} path contains a NUL character`, word.span);
  return undefined;
}

/** A path as written, with './', repeated and trailing '/' dropped, to tell two spellings of one folder. */
function sameFolder(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/\\/g, '/').split('/').filter((part) => part !== '' && part !== '.').join('/') || '.';
  return norm(a) === norm(b) && a.startsWith('/') === b.startsWith('/');
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
    const evaluate = ctx.first('evaluate');
    found.push(path(evaluate?.path, 'evaluate'), path(ctx.first('export')?.path, 'export'));
    // A test set the model trains or is selected on measures what it saw, not how it generalises.
    if (data && evaluate) {
      const seen = sameFolder(evaluate.path.text, data.path.text) ? 'training data' : data.val && sameFolder(evaluate.path.text, data.val.text) ? 'validation data' : null;
      if (seen) {
        found.push(
          warning(
            'evaluate-not-held-out',
            `'evaluate' reads the ${seen}, so its accuracy is no test: the model ${seen === 'training data' ? 'trains on those images' : 'is chosen on those images'}; evaluate images kept out of training and validation`,
            evaluate.path.span,
          ),
        );
      }
    }
    return found.filter((d): d is Diagnostic => d !== undefined);
  },
};
