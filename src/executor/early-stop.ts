import * as tf from '@tensorflow/tfjs';
import type { Plan } from '../plan/schema.ts';
import type { EpochMetrics } from './events.ts';

/** Early stopping per phase: tracks the monitored metric and keeps the best weights to restore. */
export function earlyStopper(plan: Plan) {
  const es = plan.earlyStop;
  const monitor = es?.monitor ?? plan.checkpoint?.kind === 'best' ? (plan.checkpoint as { monitor: string }).monitor : 'val_loss';
  let best: { score: number; metrics: EpochMetrics; weights: tf.Tensor[] | null } | null = null;
  let waited = 0;
  const scoreOf = (m: EpochMetrics) => {
    if (monitor === 'val_accuracy') return -(m.valAccuracy ?? m.accuracy);
    return m.valLoss ?? m.loss;
  };
  return {
    observe(m: EpochMetrics, model: tf.LayersModel): boolean {
      const score = scoreOf(m);
      if (best && score >= best.score) {
        waited++;
        return false;
      }
      if (best?.weights) tf.dispose(best.weights);
      best = { score, metrics: m, weights: es?.restoreBest ? model.getWeights().map((w) => tf.keep(w.clone())) : null };
      waited = 0;
      return true;
    },
    shouldStop: () => es !== null && waited >= es.patience,
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
