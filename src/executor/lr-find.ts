/**
 * The learning-rate range test (Smith, 2017; fastai's lr_find). One phase's training steps at a
 * rate raised geometrically at each step from `from` to `to`, the loss read after each. The loss
 * falls, flattens, then climbs and diverges; a good rate lies where it falls fastest, somewhat below
 * where it is lowest. For a phase after the first, the phases before it are trained first, as a run
 * trains them (less early stopping and adaptation), so the search starts from the weights they
 * leave: fine-tuning's rate is found on a trained head, as fastai finds it after `fit` on the head.
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
import { createRng } from './augment/index.ts';
import { loadCheckpoint } from './checkpoint.ts';
import { now, type ExecutorEvent, type LrFindResult, type LrPoint } from './events.ts';

export type { LrFindResult, LrPoint };
import { CACHE_BYTES } from './inputs.ts';
import { openPhase } from './open-phase.ts';
import type { Network } from './network.ts';
import { prepareNetwork, requireReads, type Prepared, type PrepareOptions } from './prepare.ts';
import { runPlan } from './run.ts';
import { guardMemory, runStep } from './train-step.ts';

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

const BETA = 0.98;

export async function findLearningRate(plan: Plan, options: LrFindOptions): Promise<LrFindResult> {
  const steps = options.steps ?? 100;
  const from = options.from ?? 1e-7;
  const to = options.to ?? 1;
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
  const open = await openPhase(net, data, plan, phase, { backend, lr: from, cacheBytes: CACHE_BYTES, warn }).catch((err: unknown) => {
    net.full.dispose();
    throw err;
  });
  const { model, inputs, optimizers } = open;
  try {
    const rng = createRng(plan.seed);
    const batch = Math.min(phase.batch, data.train.count);
    let order = rng.permutation(data.train.count);
    let at = 0;
    const points: LrPoint[] = [];
    let average = 0;
    let lowest = Number.POSITIVE_INFINITY;
    let diverged = false;
    for (let i = 0; i < steps; i++) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (at + batch > order.length) {
        order = rng.permutation(data.train.count);
        at = 0;
      }
      const idx = order.subarray(at, at + batch);
      at += batch;
      const lr = from * (to / from) ** (i / (steps - 1));
      open.setRate(lr);
      const { output } = guardMemory(backend.name, phase, () =>
        runStep(open.steps, true, { model, inputs, set: data.train, idx, classes: data.classes.length, plan, rng, preprocess: net.base.preprocess, optimizers, classWeights: open.classWeights, adapt: null, clip: phase.clip }),
      );
      const [loss = Number.NaN] = await output.read();
      average = BETA * average + (1 - BETA) * loss;
      const smoothed = average / (1 - BETA ** (i + 1));
      points.push({ lr, loss, smoothed });
      options.onEvent?.({ type: 'lrPoint', at: now(), phase: plan.phases.indexOf(phase), name: phase.name, step: i + 1, steps, lr, loss, smoothed });
      lowest = Math.min(lowest, smoothed);
      if (!Number.isFinite(loss) || smoothed > 4 * lowest) {
        diverged = true;
        break;
      }
      // Training awaits only promises that settle at once on wasm and cpu: let a cancel be seen.
      await new Promise<void>((r) => setImmediate(r));
    }
    const result: LrFindResult = { phase: phase.name, backend: backend.name, backendReason: backend.reason, batch, after: before.map((p) => p.name), points, diverged, ...suggest(points) };
    options.onEvent?.({ type: 'lrFound', at: now(), result });
    return result;
  } finally {
    open.close();
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

/**
 * The steepest fall of the smoothed loss before its lowest point, and a tenth of the rate at that
 * point. The first tenth of the steps is left out, as fastai does: the average is still settling.
 * The fall is measured across a quarter of a decade of rate each side: step to step, the batches'
 * noise makes steep falls of its own (on the quickstart's fine-tuning phase, one at 1.4e-6 where
 * the loss falls fastest around 2e-3).
 */
function suggest(points: readonly LrPoint[]): Pick<LrFindResult, 'steepest' | 'tenthOfMinimum'> {
  const finite = points.slice(Math.max(1, Math.floor(points.length / 10))).filter((p) => Number.isFinite(p.smoothed));
  if (finite.length < 3) return { steepest: null, tenthOfMinimum: null };
  let low = 0;
  finite.forEach((p, i) => {
    if (p.smoothed < finite[low]!.smoothed) low = i;
  });
  const decadesPerStep = Math.log10(points[1]!.lr / points[0]!.lr);
  const w = Math.min(Math.max(1, Math.round(0.25 / decadesPerStep)), Math.floor(low / 2));
  let steepest: number | null = null;
  let fall = 0;
  for (let i = w; w >= 1 && i + w <= low; i++) {
    const slope = (finite[i + w]!.smoothed - finite[i - w]!.smoothed) / Math.log10(finite[i + w]!.lr / finite[i - w]!.lr);
    if (slope < fall) {
      fall = slope;
      steepest = finite[i]!.lr;
    }
  }
  return { steepest, tenthOfMinimum: finite[low]!.lr / 10 };
}
