/** Prints diagnostics the way graphql-js's printLocation does: `file:line:col`, the source line, a caret. */
import type { Diagnostic } from './diagnostic.ts';
import { LineMap } from './location.ts';

export interface PrintOptions {
  readonly file: string;
  readonly source: string;
  readonly color?: boolean;
}

const TAB = /\t/g;

export function formatDiagnostic(d: Diagnostic, options: PrintOptions, lines = new LineMap(options.source)): string {
  const { line, column } = lines.position(d.span.start);
  const paint = (code: string, text: string) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const severity = d.severity === 'error' ? paint('1;31', 'error') : paint('1;33', 'warning');
  const text = lines.lineText(line);
  const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  const gutter = `${line} | `;
  const endOnLine = Math.min(d.span.end, d.span.start + Math.max(1, text.length - column + 1));
  const width = Math.max(1, Math.min(endOnLine - d.span.start, Math.max(1, shown.length - column + 1)));
  const caretPad = ' '.repeat(gutter.length + column - 1);
  const out = [
    `${options.file}:${line}:${column}: ${severity} ${d.code}: ${d.message}`,
    `${gutter}${shown.replace(TAB, ' ')}`,
    `${caretPad}${paint('1;32', '^'.repeat(width))}`,
  ];
  for (const r of d.related ?? []) {
    const at = lines.position(r.span.start);
    out.push(`  ${options.file}:${at.line}:${at.column}: note: ${r.message}`);
  }
  return out.join('\n');
}

export function formatDiagnostics(ds: readonly Diagnostic[], options: PrintOptions): string {
  const lines = new LineMap(options.source);
  return ds.map((d) => formatDiagnostic(d, options, lines)).join('\n\n');
}

/** Diagnostics as plain JSON with computed line/column, for editors and `--format json`. */
export function diagnosticsToJson(ds: readonly Diagnostic[], source: string, file?: string) {
  const lines = new LineMap(source);
  return ds.map((d) => {
    const start = lines.position(d.span.start);
    const end = lines.position(d.span.end);
    return {
      ...(file !== undefined && { file }),
      code: d.code,
      severity: d.severity,
      message: d.message,
      line: start.line,
      column: start.column,
      endLine: end.line,
      endColumn: end.column,
      span: d.span,
      ...(d.related && { related: d.related.map((r) => ({ ...r, ...lines.position(r.span.start) })) }),
    };
  });
}
