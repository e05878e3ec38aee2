/**
 * The native layer names a plan uses (`freeze until "x"`, `unfreeze "x"`, `lr "x" 1e-5`), checked
 * against the base before training. The checker knows a zoo model's layers; a model file's are only
 * known once it loads, and a name it lacks would otherwise change nothing without a word (a freeze
 * that freezes nothing, an unfreeze or a rate that applies to no layer).
 */
import { didYouMean } from '../diagnostics/suggest.ts';
import type { Origin, Plan } from '../plan/schema.ts';
import { BLOCKS } from '../zoo/catalog.ts';
import { ExecutorError } from './errors.ts';
import type { Base } from './zoo/index.ts';

export function requireLayerNames(plan: Plan, base: Base): void {
  const named: [layer: string, origin: Origin | null][] = [];
  if (plan.freeze.until?.kind === 'layer') named.push([plan.freeze.until.layer, plan.freeze.origin]);
  for (const phase of plan.phases) {
    for (const layer of phase.trainableLayers) named.push([layer, phase.origin]);
    for (const unit of Object.keys(phase.lrMultipliers ?? {})) {
      if (unit !== 'head' && !(BLOCKS as readonly string[]).includes(unit)) named.push([unit, phase.origin]);
    }
  }
  const known = new Set(base.layers);
  for (const [layer, origin] of named) {
    // A rate set before any phase has no statement in the plan: point at the model that lacks the layer.
    if (!known.has(layer)) throw new ExecutorError('unknown-layer', `${base.name} has no layer '${layer}'${didYouMean(layer, base.layers)}`, origin ?? plan.model.origin);
  }
}
