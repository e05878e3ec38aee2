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
