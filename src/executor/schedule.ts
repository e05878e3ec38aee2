/** The learning rate at a point in a phase: warmup ramps linearly per batch, then the schedule by epoch. */
import type { Phase } from '../plan/schema.ts';

/** `epoch` is 0-based within the phase; `progress` is the fraction of that epoch done (0..1). */
export function learningRateAt(phase: Phase, epoch: number, progress: number): number {
  const s = phase.schedule;
  const t = epoch + progress;
  if (s.warmup > 0 && t < s.warmup) return phase.lr * Math.max(t / s.warmup, 1e-3);
  switch (s.kind) {
    case 'constant':
      return phase.lr;
    case 'step':
      return phase.lr * s.gamma ** Math.floor((epoch - s.warmup) / s.every);
    case 'cosine': {
      const span = Math.max(1, phase.epochs - s.warmup);
      const x = Math.min(1, (t - s.warmup) / span);
      return s.minLr + 0.5 * (phase.lr - s.minLr) * (1 + Math.cos(Math.PI * x));
    }
  }
}
