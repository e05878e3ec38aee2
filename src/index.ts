/**
 * `tl`: the compiler as a library. Pure functions over script text, no I/O and no tfjs, so they
 * run in a browser as in Node (an editor's diagnostics, a plan preview). Training is `tl/executor`,
 * the service `tl/server`, a client of a running `tl serve` `tl/client`.
 *
 * @example
 * import { compile, formatDiagnostics } from 'tl';
 * const source = 'use mobilenetv2; data "photos" split 0.2; phase lr 1e-4 unfreeze block5';
 * const { plan, diagnostics } = compile(source);
 * if (!plan) throw new Error(formatDiagnostics(diagnostics, { file: 'inline.tl', source }));
 * console.log(plan.phases.map((p) => `${p.name}: ${p.trainable.join(' + ')} at ${p.lr}`));
 */
export { compile, type CompileResult } from './compile.ts';
export { format, type FormatResult } from './format/format.ts';
export { setPhaseRate, type RateEdit } from './format/set-rate.ts';
export { hasErrors, type Diagnostic, type Severity, type Span } from './diagnostics/diagnostic.ts';
export { diagnosticsToJson, formatDiagnostic, formatDiagnostics, type PrintOptions } from './diagnostics/print.ts';
export { PLAN_VERSION } from './plan/version.ts';
export type { AugmentOp, Clip, Data, Head, HeadLayer, Model, Optimizer, Origin, Phase, Plan, Schedule } from './plan/schema.ts';
