/** Prints diagnostics the way graphql-js's printLocation does: `file:line:col`, the source line, a caret. */
import type { Diagnostic } from './diagnostic.ts';
import { LineMap } from './location.ts';
import { printable, printableInPlace } from './printable.ts';

export interface PrintOptions {
  readonly file: string;
  readonly source: string;
  readonly color?: boolean;
}

/** How many characters of a long line the excerpt shows, around the column. */
const SHOWN = 200;
export function formatDiagnostic(d: Diagnostic, options: PrintOptions, lines = new LineMap(options.source)): string {
  const { line, column } = lines.position(d.span.start);
  const paint = (code: string, text: string) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const severity = d.severity === 'error' ? paint('1;31', 'error') : paint('1;33', 'warning');
  const text = lines.lineText(line);
  // A long line shows SHOWN characters from a little before the column, marked '...' where cut.
  const at = column - 1;
  const from = text.length > SHOWN ? Math.max(0, Math.min(at - 40, text.length - SHOWN)) : 0;
  const to = Math.min(text.length, from + SHOWN);
  const lead = from > 0 ? '...' : '';
  const shown = `${lead}${printableInPlace(text.slice(from, to).replaceAll('\t', ' '))}${to < text.length ? '...' : ''}`;
  const gutter = `${line} | `;
  const width = Math.max(1, Math.min(d.span.end - d.span.start, to - at));
  const caretPad = ' '.repeat(gutter.length + lead.length + at - from);
  const out = [
    `${options.file}:${line}:${column}: ${severity} ${d.code}: ${printable(d.message)}`,
    `${gutter}${shown}`,
    `${caretPad}${paint('1;32', '^'.repeat(width))}`,
  ];
  for (const r of d.related ?? []) {
    const at = lines.position(r.span.start);
    out.push(`  ${options.file}:${at.line}:${at.column}: note: ${printable(r.message)}`);
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
