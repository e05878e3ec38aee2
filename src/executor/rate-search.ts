/**
 * The learning-rate range test's search (Smith, 2017; fastai's lr_find): one phase's training steps
 * at a rate raised geometrically at each step from `from` to `to`, the loss read after each, and the
 * rate it suggests. The loss falls, flattens, then climbs and diverges; a good rate lies where it
 * falls fastest, somewhat below where it is lowest. It trains the network it is given: `tl lr-find`
 * (lr-find.ts) throws that network away, `lr auto` (run.ts) puts the weights back after it.
 */
import * as tf from '@tensorflow/tfjs';
import { PHASE_DEFAULTS } from '../checks/vocabulary.ts';
import type { Phase, Plan } from '../plan/schema.ts';
import { createRng } from './augment/index.ts';
import type { BackendChoice } from './backends/select.ts';
import type { Dataset } from './data/index.ts';
import type { LrPoint } from './events.ts';
import { CACHE_BYTES } from './inputs.ts';
import type { Network } from './network.ts';
import { openPhase } from './open-phase.ts';
import { guardMemory, runStep } from './train-step.ts';

export interface SearchOptions {
  readonly backend: BackendChoice;
  /** Steps to take, each on the next batch of the training set shuffled from `seed`. */
  readonly steps: number;
  readonly from: number;
  readonly to: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /** Each step's point as it is read, with its 1-based number. */
  readonly onPoint?: (point: LrPoint, step: number) => void;
  readonly warn: (message: string) => void;
}

export interface RateSearch {
  readonly batch: number;
  readonly points: readonly LrPoint[];
  /** Stopped before `to`: the smoothed loss passed 4 times its lowest, or a loss was not a number. */
  readonly diverged: boolean;
  /** The rate where the smoothed loss falls fastest per decade of rate, before its lowest point. */
  readonly steepest: number | null;
  /** A tenth of the rate where the smoothed loss is lowest. */
  readonly tenthOfMinimum: number | null;
}

/** The search `lr auto` runs, as `tl lr-find` runs it by default. */
export const LR_SEARCH = { steps: PHASE_DEFAULTS.searchSteps, from: 1e-7, to: 1 } as const;

/** The loss averaged over the steps before, weighted to the recent ones, as fastai does. */
const BETA = 0.98;

/** Runs the search on `net` as it is (the phase's layers set trainable, its optimizers new), leaving its weights trained. */
export async function searchRate(net: Network, data: Dataset, plan: Plan, phase: Phase, o: SearchOptions): Promise<RateSearch> {
  const { backend, steps, from, to } = o;
  const open = await openPhase(net, data, plan, phase, { backend, lr: from, cacheBytes: CACHE_BYTES, warn: o.warn });
  const { model, inputs, optimizers } = open;
  try {
    const rng = createRng(o.seed);
    const batch = Math.min(phase.batch, data.train.count);
    let order = rng.permutation(data.train.count);
    let at = 0;
    const points: LrPoint[] = [];
    let average = 0;
    let lowest = Number.POSITIVE_INFINITY;
    let diverged = false;
    for (let i = 0; i < steps; i++) {
      if (o.signal?.aborted) throw o.signal.reason;
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
      o.onPoint?.({ lr, loss, smoothed }, i + 1);
      lowest = Math.min(lowest, smoothed);
      if (!Number.isFinite(loss) || smoothed > 4 * lowest) {
        diverged = true;
        break;
      }
      // Training awaits only promises that settle at once on wasm and cpu: let a cancel be seen.
      await new Promise<void>((r) => setImmediate(r));
    }
    return { batch, points, diverged, ...suggest(points) };
  } finally {
    open.close();
  }
}

/**
 * `lr auto`: the search run on the network as the phase starts, then the weights (BatchNorm's
 * statistics with them) and dropout's draws put back as they were, so that the phase trains as the
 * script with the found rate written in would. Its batches come from `o.seed`, not the run's draws.
 */
export async function searchInPlace(net: Network, data: Dataset, plan: Plan, phase: Phase, o: SearchOptions): Promise<RateSearch> {
  // Each variable with its value: the weights' order follows which layers train, which the search changes.
  const weights = net.full.weights.map((w) => ({ w, value: w.read().clone() }));
  for (const d of net.dropout) await d.sync?.();
  const calls = net.dropout.map((d) => d.calls);
  try {
    return await searchRate(net, data, plan, phase, o);
  } finally {
    for (const { w, value } of weights) w.write(value);
    tf.dispose(weights.map((s) => s.value));
    net.dropout.forEach((d, i) => {
      d.calls = calls[i]!;
      d.restore?.(calls[i]!);
    });
  }
}

/**
 * The steepest fall of the smoothed loss before its lowest point, and a tenth of the rate at that
 * point. The first tenth of the steps is left out, as fastai does: the average is still settling.
 * The fall is measured across a quarter of a decade of rate each side: step to step, the batches'
 * noise makes steep falls of its own (on the quickstart's fine-tuning phase, one at 1.4e-6 where
 * the loss falls fastest around 2e-3).
 */
function suggest(points: readonly LrPoint[]): Pick<RateSearch, 'steepest' | 'tenthOfMinimum'> {
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
