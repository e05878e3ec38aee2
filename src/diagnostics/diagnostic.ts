/** A source range: byte offsets into the script, end exclusive. Lines and columns are computed when printed. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export type Severity = 'error' | 'warning';

/** One finding about a script. `code` is stable (see docs/diagnostics.md); `message` is one sentence. */
export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
  readonly span: Span;
  readonly related?: readonly { readonly message: string; readonly span: Span }[];
}

export function error(code: string, message: string, span: Span, related?: Diagnostic['related']): Diagnostic {
  return related ? { code, severity: 'error', message, span, related } : { code, severity: 'error', message, span };
}

export function warning(code: string, message: string, span: Span, related?: Diagnostic['related']): Diagnostic {
  return related ? { code, severity: 'warning', message, span, related } : { code, severity: 'warning', message, span };
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

export function joinSpans(a: Span, b: Span): Span {
  return { start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}
