/**
 * A phase's optimizer, schedule and clipping in the words a script would use for them (`sgd momentum 0.9
 * weight decay 0.0005`, `cosine min 1e-6 warmup 1`), for what a run prints and streams.
 */
import type { Clip, Optimizer, Schedule } from './schema.ts';

export function describeOptimizer(o: Optimizer): string {
  const momentum = o.kind !== 'adam' && o.momentum > 0 ? ` momentum ${o.momentum}` : '';
  const decay = o.weightDecay > 0 ? ` weight decay ${o.weightDecay}` : '';
  return `${o.kind}${momentum}${decay}`;
}

/** Empty for a constant rate without warmup: nothing to say. */
export function describeSchedule(s: Schedule): string {
  const warmup = s.warmup > 0 ? ` warmup ${s.warmup}` : '';
  switch (s.kind) {
    case 'constant':
      return warmup ? `constant${warmup}` : '';
    case 'cosine':
      return `cosine${s.minLr > 0 ? ` min ${s.minLr}` : ''}${warmup}`;
    case 'step':
      return `step every ${s.every} gamma ${s.gamma}${warmup}`;
  }
}

/** Empty where the phase does not clip. */
export function describeClip(c: Clip | null): string {
  return c ? `clip ${c.mode} ${c.max}` : '';
}
