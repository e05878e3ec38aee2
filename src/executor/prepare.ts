/**
 * What a training run and a learning-rate search both start from: the paths the script reads looked
 * at, a backend, the base with its weights, the data decoded, and the network assembled on top.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Data, Origin, Plan } from '../plan/schema.ts';
import { selectBackend, type BackendChoice, type BackendName } from './backends/select.ts';
import { imbalanceWarning } from './class-weights.ts';
import { loadDataset, requireExists, type Dataset } from './data/index.ts';
import { ExecutorError, wrap } from './errors.ts';
import { requireLayerNames } from './layer-names.ts';
import { assemble, type Network } from './network.ts';
import { reseed } from './seed.ts';
import { buildBase } from './zoo/index.ts';

export interface PrepareOptions {
  /** Relative paths in the plan resolve against this folder (the script's). */
  readonly baseDir: string;
  readonly backend?: BackendName;
  readonly cacheDir?: string;
  readonly onCorrupt?: 'skip' | 'stop';
  readonly signal?: AbortSignal;
}

export interface Prepared {
  readonly backend: BackendChoice;
  readonly data: Dataset;
  readonly net: Network;
}

/** The plan's `data`, once every path the script reads is known to be there (before any weights load or download). */
export async function requireReads(plan: Plan, baseDir: string): Promise<Data> {
  if (!plan.data) throw new ExecutorError('missing-data', "the script has no 'data' statement; add one, e.g. data \"images/\" split 0.2", plan.model.origin);
  const reads: [what: string, path: string | null | undefined, origin: Origin | undefined][] = [
    ['data', plan.data.path, plan.data.origin],
    ['validation data', plan.data.val, plan.data.origin],
    ['evaluate data', plan.evaluate?.path, plan.evaluate?.origin],
  ];
  for (const [what, p, origin] of reads) if (p) await wrap('data-not-found', origin ?? null, () => requireExists(isAbsolute(p) ? p : resolve(baseDir, p), what));
  return plan.data;
}

/** Picks the backend, builds the base, decodes the data and assembles the network; `warn` hears what they went on past. */
export async function prepareNetwork(plan: Plan, data: Data, options: PrepareOptions, warn: (message: string) => void): Promise<Prepared> {
  const backend = await wrap('no-backend', null, () => selectBackend(options.backend ?? 'auto'));
  const base = await wrap('model-load', plan.model.origin, () =>
    buildBase(plan.model, { baseDir: options.baseDir, warn, ...(options.cacheDir && { cacheDir: options.cacheDir }) }),
  );
  requireLayerNames(plan, base);
  const dataset = await wrap('data-load', data.origin, () =>
    loadDataset(data, { baseDir: options.baseDir, imageSize: base.inputSize, seed: plan.seed, onCorrupt: options.onCorrupt ?? 'skip', warn, ...(options.signal && { signal: options.signal }) }),
  );
  if (dataset.classes.length < 2) {
    throw new ExecutorError('one-class', `the data has a single class ('${dataset.classes[0]}'); a classifier needs at least two: add images of another class`, data.origin);
  }
  if (!data.balance) {
    const lopsided = imbalanceWarning(dataset.train, dataset.classes);
    if (lopsided !== null) warn(lopsided);
  }
  if (plan.model.weights.kind === 'none') reseed(base.model, plan.seed);
  return { backend, data: dataset, net: assemble(base, plan, dataset.classes.length) };
}
