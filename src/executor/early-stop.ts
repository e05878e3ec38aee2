import * as tf from '@tensorflow/tfjs';
import type { EarlyStop, Plan } from '../plan/schema.ts';
import type { EpochMetrics } from './events.ts';

type Monitor = EarlyStop['monitor'];

/** Lower is better: the validation loss, or the validation accuracy negated (the training ones without a validation set). */
function scoreOf(monitor: Monitor, m: EpochMetrics): number {
  return monitor === 'val_accuracy' ? -(m.valAccuracy ?? m.accuracy) : (m.valLoss ?? m.loss);
}

/**
 * Whether each epoch's metrics beat every epoch's before, by `monitor` (what `checkpoint best`
 * saves on). A score that is not a number (a diverged loss) never does.
 */
export function improvement(monitor: Monitor): (m: EpochMetrics) => boolean {
  let best = Number.POSITIVE_INFINITY;
  return (m) => {
    const score = scoreOf(monitor, m);
    if (!(score < best)) return false;
    best = score;
    return true;
  };
}

/**
 * A copy of a weight's values in memory of its own. A clone would share the variable's memory, and
 * the next optimizer step could not update the variable in place: it would write a new buffer, and
 * on webgpu the recorded step reading the old one would be dropped and recorded again, at every
 * improvement. (x * 1 is x, to the bit.)
 */
function copyOf(w: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.keep(tf.mul(w, tf.scalar(1, w.dtype))));
}

/**
 * Early stopping per phase: tracks the monitored metric (the `early stop` statement's, else
 * `checkpoint best`'s, else the validation loss) for the phase's best epoch, and where the plan
 * stops early, keeps the best weights to restore and stops after `patience` epochs without one.
 */
export function earlyStopper(plan: Plan) {
  const es = plan.earlyStop;
  const improved = improvement(es?.monitor ?? (plan.checkpoint?.kind === 'best' ? plan.checkpoint.monitor : 'val_loss'));
  let best: { metrics: EpochMetrics; weights: tf.Tensor[] | null } | null = null;
  let waited = 0;
  return {
    /** Notes an epoch's metrics; true where they are the best so far. */
    observe(m: EpochMetrics, model: tf.LayersModel): boolean {
      if (!improved(m) && best !== null) {
        waited++;
        return false;
      }
      if (best?.weights) tf.dispose(best.weights);
      best = { metrics: m, weights: es?.restoreBest ? model.getWeights().map(copyOf) : null };
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
