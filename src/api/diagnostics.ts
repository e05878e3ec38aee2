/** Diagnostics as the API serves them: line and column computed against the submitted source. */
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import { diagnosticsToJson } from '../diagnostics/print.ts';
import type { Refusal } from '../service/limits.ts';
import type { Shapes } from './generated/schema-types.ts';

export type DiagnosticShape = Shapes['Diagnostic'];

export function toApiDiagnostics(diagnostics: readonly Diagnostic[], source: string): DiagnosticShape[] {
  return diagnosticsToJson(diagnostics, source).map((d) => ({
    code: d.code,
    severity: d.severity === 'error' ? 'ERROR' : 'WARNING',
    message: d.message,
    line: d.line,
    column: d.column,
    endLine: d.endLine,
    endColumn: d.endColumn,
  }));
}

/** A refusal is about the request, not a statement: no position. */
export function refusalDiagnostic(refusal: Refusal): DiagnosticShape {
  return { code: refusal.code, severity: 'ERROR', message: refusal.message, line: null, column: null, endLine: null, endColumn: null };
}
