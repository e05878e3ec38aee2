/**
 * The learning-rate range test (Smith, 2017; fastai's lr_find). One phase's training steps, from the
 * weights the run starts with, at a rate raised geometrically at each step from `from` to `to`, the
 * loss read after each. The loss falls, flattens, then climbs and diverges; a good rate lies where
 * it falls fastest, somewhat below where it is lowest. Nothing is saved: the network is thrown away.
 *
 * @example
 * const found = await findLearningRate(plan, { baseDir: 'examples', phase: 'finetune' });
 * found.steepest; // e.g. 2.5e-3
 */
import type { Plan } from '../plan/schema.ts';
import { createRng } from './augment/index.ts';
import { CACHE_BYTES } from './inputs.ts';
import { openPhase } from './open-phase.ts';
import { prepareNetwork, requireReads, type PrepareOptions } from './prepare.ts';
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
}

export interface LrPoint {
  readonly lr: number;
  readonly loss: number;
  /** The loss averaged over the steps before, weighted to the recent ones (as fastai does, 0.98). */
  readonly smoothed: number;
}

export interface LrFindResult {
  readonly phase: string;
  readonly backend: string;
  /** Why that backend: what it is here, and what was skipped. */
  readonly backendReason: string;
  readonly batch: number;
  readonly points: readonly LrPoint[];
  /** Stopped before `to`: the smoothed loss passed 4 times its lowest, or a loss was not a number. */
  readonly diverged: boolean;
  /** The rate where the smoothed loss falls fastest per decade of rate, before its lowest point. */
  readonly steepest: number | null;
  /** A tenth of the rate where the smoothed loss is lowest. */
  readonly tenthOfMinimum: number | null;
}

const BETA = 0.98;

export async function findLearningRate(plan: Plan, options: LrFindOptions): Promise<LrFindResult> {
  const steps = options.steps ?? 100;
  const from = options.from ?? 1e-7;
  const to = options.to ?? 1;
  if (!Number.isInteger(steps) || steps < 2) throw new RangeError(`steps must be a whole number of at least 2, got ${steps}`);
  if (!(from > 0 && to > from)) throw new RangeError(`the rates must rise from above 0: from ${from} to ${to}`);
  const phase = options.phase === undefined ? plan.phases.find((p) => p.epochs > 0) ?? plan.phases[0]! : plan.phases.find((p) => p.name === options.phase);
  if (!phase) throw new RangeError(`no phase named '${options.phase}'; the phases are ${plan.phases.map((p) => `'${p.name}'`).join(', ')}`);
  const warn = options.warn ?? (() => {});
  if (plan.adapt) warn(`the search trains on the labelled data alone: 'adapt ${plan.adapt.method}' is left out`);

  const dataSpec = await requireReads(plan, options.baseDir);
  const { backend, data, net } = await prepareNetwork(plan, dataSpec, options, warn);
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
        runStep(open.steps, true, { model, inputs, set: data.train, idx, classes: data.classes.length, plan, rng, preprocess: net.base.preprocess, optimizers, classWeights: open.classWeights, adapt: null }),
      );
      const [loss = Number.NaN] = await output.read();
      average = BETA * average + (1 - BETA) * loss;
      const smoothed = average / (1 - BETA ** (i + 1));
      points.push({ lr, loss, smoothed });
      lowest = Math.min(lowest, smoothed);
      if (!Number.isFinite(loss) || smoothed > 4 * lowest) {
        diverged = true;
        break;
      }
      // Training awaits only promises that settle at once on wasm and cpu: let a cancel be seen.
      await new Promise<void>((r) => setImmediate(r));
    }
    return { phase: phase.name, backend: backend.name, backendReason: backend.reason, batch, points, diverged, ...suggest(points) };
  } finally {
    open.close();
    net.full.dispose();
  }
}

/**
 * The steepest fall of the smoothed loss before its lowest point, and a tenth of the rate at that
 * point. The first tenth of the steps is left out, as fastai does: the average is still settling.
 */
function suggest(points: readonly LrPoint[]): Pick<LrFindResult, 'steepest' | 'tenthOfMinimum'> {
  const finite = points.slice(Math.max(1, Math.floor(points.length / 10))).filter((p) => Number.isFinite(p.smoothed));
  if (finite.length < 3) return { steepest: null, tenthOfMinimum: null };
  let low = 0;
  finite.forEach((p, i) => {
    if (p.smoothed < finite[low]!.smoothed) low = i;
  });
  let steepest: number | null = null;
  let fall = 0;
  for (let i = 1; i < low; i++) {
    const slope = (finite[i + 1]!.smoothed - finite[i - 1]!.smoothed) / Math.log10(finite[i + 1]!.lr / finite[i - 1]!.lr);
    if (slope < fall) {
      fall = slope;
      steepest = finite[i]!.lr;
    }
  }
  return { steepest, tenthOfMinimum: finite[low]!.lr / 10 };
}
