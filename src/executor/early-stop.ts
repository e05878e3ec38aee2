import * as tf from '@tensorflow/tfjs';
import type { EarlyStop, Plan } from '../plan/schema.ts';
import type { EpochMetrics } from './events.ts';

type Monitor = EarlyStop['monitor'];

/** Lower is better: the validation loss, or the validation accuracy negated (the training ones without a validation set). */
function scoreOf(monitor: Monitor, m: EpochMetrics): number {
  return monitor === 'val_accuracy' ? -(m.valAccuracy ?? m.accuracy) : (m.valLoss ?? m.loss);
}

/** Whether an epoch's metrics beat every epoch's before; `best` says the best score so far (null before the first). */
export interface Improvement {
  (m: EpochMetrics): boolean;
  readonly best: () => number | null;
}

/**
 * Whether each epoch's metrics beat every epoch's before, by `monitor` (what `checkpoint best`
 * saves on), starting from the score `from` where a resumed run had one. A score that is not a
 * number (a diverged loss) never does.
 */
export function improvement(monitor: Monitor, from: number | null = null): Improvement {
  let best = from ?? Number.POSITIVE_INFINITY;
  const improves = (m: EpochMetrics): boolean => {
    const score = scoreOf(monitor, m);
    if (!(score < best)) return false;
    best = score;
    return true;
  };
  return Object.assign(improves, { best: () => (Number.isFinite(best) ? best : null) });
}

/** Every layer of `model`, nested models' layers in their place. */
function leafLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((l) => (l instanceof tf.LayersModel ? leafLayers(l) : [l]));
}

/**
 * The model's weights as they are now, to put back later. The weights of layers that train (their
 * optimizer's, a BatchNorm's moving averages) are copies in memory of their own: as clones they
 * would share the variables' memory, so the next step could not update them in place, and on
 * webgpu the recorded step would be dropped and recorded again at every improvement. The next step
 * would copy them anyway, so this costs no memory. The rest, which no step writes (a frozen base),
 * are clones, which cost none. (x * 1 is x, to the bit.)
 */
function snapshot(model: tf.LayersModel): tf.Tensor[] {
  const training = new Set(leafLayers(model).filter((l) => l.trainable).flatMap((l) => l.weights));
  return model.weights.map((w) => {
    const value = w.read();
    return tf.tidy(() => tf.keep(training.has(w) ? tf.mul(value, tf.scalar(1, value.dtype)) : value.clone()));
  });
}

/** Where a phase's early stopping stands: the best score and epoch so far, and the epochs since. */
export interface StopperState {
  readonly score: number | null;
  readonly metrics: EpochMetrics | null;
  readonly waited: number;
}

/**
 * Early stopping per phase: tracks the monitored metric (the `early stop` statement's, else
 * `checkpoint best`'s, else the validation loss) for the phase's best epoch, and where the plan
 * stops early, keeps the best weights to restore and stops after `patience` epochs without one.
 */
export function earlyStopper(plan: Plan, from?: { readonly state: StopperState; readonly weights: tf.Tensor[] | null }) {
  const es = plan.earlyStop;
  const improved = improvement(es?.monitor ?? (plan.checkpoint?.kind === 'best' ? plan.checkpoint.monitor : 'val_loss'), from?.state.score);
  let best: { metrics: EpochMetrics; weights: tf.Tensor[] | null } | null = from?.state.metrics ? { metrics: from.state.metrics, weights: from.weights } : null;
  let waited = from?.state.waited ?? 0;
  return {
    /** What a checkpoint keeps to continue the phase (the best weights aside: `bestWeights`). */
    state: (): StopperState => ({ score: improved.best(), metrics: best?.metrics ?? null, waited }),
    /** The best epoch's weights, in the model's order, where the plan restores them. */
    bestWeights: (): readonly tf.Tensor[] | null => best?.weights ?? null,
    /** Notes an epoch's metrics; true where they are the best so far. */
    observe(m: EpochMetrics, model: tf.LayersModel): boolean {
      if (!improved(m) && best !== null) {
        waited++;
        return false;
      }
      if (best?.weights) tf.dispose(best.weights);
      best = { metrics: m, weights: es?.restoreBest ? snapshot(model) : null };
      waited = 0;
      return true;
    },
    shouldStop: () => es !== null && waited >= es.patience,
    /** Restores the best weights where kept; returns the best epoch's metrics. */
    finish(model: tf.LayersModel): EpochMetrics | null {
      if (!best) return null;
      if (best.weights) {
        model.setWeights(best.weights);
        tf.dispose(best.weights);
      }
      const m = best.metrics;
      best = null;
      return m;
    },
  };
}
