/**
 * `tl lr-find`: the learning-rate range test (rate-search.ts) on one phase of a script, on a network
 * of its own. For a phase after the first, the phases before it are trained first, as a run trains
 * them (less early stopping and adaptation), so the search starts from the weights they leave:
 * fine-tuning's rate is found on a trained head, as fastai finds it after `fit` on the head.
 * Nothing is saved: the network is thrown away.
 *
 * @example
 * const found = await findLearningRate(plan, { baseDir: 'examples', phase: 'finetune' });
 * found.steepest; // e.g. 2.5e-3
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Phase, Plan } from '../plan/schema.ts';
import { loadCheckpoint } from './checkpoint.ts';
import { now, type ExecutorEvent, type LrFindResult, type LrPoint } from './events.ts';
import type { Network } from './network.ts';
import { prepareNetwork, requireReads, type Prepared, type PrepareOptions } from './prepare.ts';
import { LR_SEARCH, searchRate } from './rate-search.ts';
import { checkedPlan } from './checked-plan.ts';
import { runPlan } from './run.ts';

export type { LrFindResult, LrPoint };

export interface LrFindOptions extends PrepareOptions {
  /** The phase whose steps to run, by name; default: the first with epochs. */
  readonly phase?: string;
  /** Steps to take (default 100), each on the next batch of the shuffled training set. */
  readonly steps?: number;
  /** The first and last rate (default 1e-7 and 1). With per-unit rates, each unit keeps its factor of it. */
  readonly from?: number;
  readonly to?: number;
  readonly warn?: (message: string) => void;
  /** Start from the weights a run starts with, not from those the phases before leave. */
  readonly fromStart?: boolean;
  /**
   * Hears the run of the phases before, where they are trained first (its warnings go to `warn`),
   * then an `lrPoint` event a step and `lrFound` at the end.
   */
  readonly onEvent?: (event: ExecutorEvent) => void;
}

export async function findLearningRate(given: Plan, options: LrFindOptions): Promise<LrFindResult> {
  const plan = checkedPlan(given);
  const steps = options.steps ?? LR_SEARCH.steps;
  const from = options.from ?? LR_SEARCH.from;
  const to = options.to ?? LR_SEARCH.to;
  if (!Number.isInteger(steps) || steps < 2) throw new RangeError(`steps must be a whole number of at least 2, got ${steps}`);
  if (!(from > 0 && to > from)) throw new RangeError(`the rates must rise from above 0: from ${from} to ${to}`);
  const { phase, before } = phasesOfSearch(plan, options);
  const warn = options.warn ?? (() => {});
  if (plan.adapt) warn(`the search trains on the labelled data alone: 'adapt ${plan.adapt.method}' is left out`);

  const dataSpec = await requireReads(plan, options.baseDir);
  const trainedIn = before.length > 0 ? await trainBefore(plan, plan.phases.indexOf(phase), before.at(-1)!, { ...options, warn }) : null;
  let prepared: Prepared;
  try {
    // Where the phases before were trained, their run has said what loading the base and the data went on past.
    prepared = await prepareNetwork(plan, dataSpec, options, trainedIn === null ? warn : () => {});
    if (trainedIn !== null) await loadWeights(prepared.net, join(trainedIn, 'checkpoint'));
  } finally {
    if (trainedIn !== null) rmSync(trainedIn, { recursive: true, force: true });
  }
  const { backend, data, net } = prepared;
  try {
    const search = await searchRate(net, data, plan, phase, {
      backend, steps, from, to, seed: plan.seed, warn,
      ...(options.signal && { signal: options.signal }),
      onPoint: (point, step) => options.onEvent?.({ type: 'lrPoint', at: now(), phase: plan.phases.indexOf(phase), name: phase.name, step, steps, ...point }),
    });
    const result: LrFindResult = { phase: phase.name, backend: backend.name, backendReason: backend.reason, after: before.map((p) => p.name), ...search };
    options.onEvent?.({ type: 'lrFound', at: now(), result });
    return result;
  } finally {
    net.full.dispose();
  }
}

/**
 * The phase a search runs (`options.phase`, or the first that trains) and the phases trained before
 * it (those before it that train, none with `fromStart`).
 */
export function phasesOfSearch(plan: Plan, options: Pick<LrFindOptions, 'phase' | 'fromStart'>): { phase: Phase; before: Phase[] } {
  const phase = options.phase === undefined ? plan.phases.find((p) => p.epochs > 0) ?? plan.phases[0]! : plan.phases.find((p) => p.name === options.phase);
  if (!phase) throw new RangeError(`no phase named '${options.phase}'; the phases are ${plan.phases.map((p) => `'${p.name}'`).join(', ')}`);
  return { phase, before: options.fromStart ? [] : plan.phases.slice(0, plan.phases.indexOf(phase)).filter((p) => p.epochs > 0) };
}

/**
 * Trains the plan's phases before `index` as a run does, without early stopping, adaptation, an
 * export or a test set, into a checkpoint saved at the end of `last` (the last of them that trains),
 * and returns the run's folder (the checkpoint is in it). A cancelled or failed run leaves nothing
 * behind. Its warnings go to `options.warn`, its other events to `options.onEvent`.
 */
async function trainBefore(plan: Plan, index: number, last: Phase, options: LrFindOptions & { readonly warn: (message: string) => void }): Promise<string> {
  const runDir = mkdtempSync(join(tmpdir(), 'tl-lr-find-'));
  const earlier: Plan = {
    ...plan, phases: plan.phases.slice(0, index), adapt: null, earlyStop: null, evaluate: null, export: null,
    checkpoint: { kind: 'every', epochs: last.epochs, origin: last.origin ?? plan.model.origin },
  };
  try {
    await runPlan(earlier, {
      ...options, runDir,
      onEvent: (e) => (e.type === 'warning' ? options.warn(e.message) : options.onEvent?.(e)),
    });
  } catch (err) {
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  return runDir;
}

/** Puts the checkpoint's weights into `net` (and drops what else it holds); a failure disposes the network. */
async function loadWeights(net: Network, dir: string): Promise<void> {
  try {
    const loaded = await loadCheckpoint(net.full, dir);
    if (loaded) tf.dispose([...loaded.optimizers.flat().map((w) => w.tensor), ...Object.values(loaded.bestWeights ?? {}), ...loaded.adaptVariables]);
  } catch (err) {
    net.full.dispose();
    throw err;
  }
}
