/**
 * `tl/executor`: training, learning-rate search and prediction as a library, on the backend chosen
 * at run time (native TensorFlow, WebGPU, wasm, cpu) as `tl run` chooses it. The same typed events
 * `tl run --json` prints and the service streams come to `onEvent`.
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * import { compile } from 'tl';
 * import { loadModel, predictFiles, runPlan } from 'tl/executor';
 *
 * const { plan } = compile(readFileSync('examples/quickstart.tl', 'utf8'));
 * const { metrics, exportPath } = await runPlan(plan!, {
 *   baseDir: 'examples', runDir: 'examples/runs/quickstart/state',
 *   onEvent: (e) => e.type === 'epochEnded' && console.log(e.phase, e.epoch, e.metrics.valAccuracy),
 * });
 * const model = await loadModel(exportPath!);
 * console.log(await predictFiles(model, ['examples/data/fashion-mini/test/boot'], 3));
 */
import type { BackendName } from './backends/names.ts';
import { loadExported, type ExportedModel } from './predict.ts';

export { runPlan, type RunOptions, type RunResult } from './run.ts';
export { findLearningRate, type LrFindOptions } from './lr-find.ts';
export { explainImage, heatmapImage, type Explanation } from './explain.ts';
export { evaluateModel, type EvaluateOptions, type Evaluation, type Mistake } from './evaluate-model.ts';
export type { ClassScore } from './metrics.ts';
export { predictFiles, predictImages, type ExportedModel, type Prediction, type PredictOptions, type Ranking } from './predict.ts';
export { ExecutorError } from './errors.ts';
/** Checks a plan read as JSON (a `tl plan` file, one a program wrote) against the schema, naming each field out of place; runPlan does the same first. */
export { parsePlan, type ParsedPlan } from '../plan/parse.ts';
export { FAILURE_CODES, type FailureCode } from './failure-codes.ts';
export { BACKENDS, type BackendName } from './backends/names.ts';
export { suggestedRate } from './events.ts';
export type { EpochMetrics, ExecutorEvent, ExecutorEventType, FinalMetrics, LrFindResult, LrPoint } from './events.ts';

/**
 * Loads a model a run exported (its `export` folder: a tfjs Layers model with `labels.json` and
 * `preprocess.json`) on `backend` (default `auto`, as `tl predict` picks it). Throws an
 * ExecutorError `bad-export` that names the file and the reason when the folder is not one.
 */
export async function loadModel(dir: string, options: { readonly backend?: BackendName } = {}): Promise<ExportedModel> {
  const { selectBackend } = await import('./backends/select.ts');
  await selectBackend(options.backend ?? 'auto');
  return loadExported(dir);
}
