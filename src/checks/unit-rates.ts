/**
 * Per-unit learning rates (`lr block4 1e-5`, `lr "conv5_block1_out" 1e-5`, `lr head 3e-3`): the unit
 * must name a block, a layer or the head, and a warning says when a rate can never be used, its unit
 * training in no phase from the one that sets it until one that sets it again. A unit's rate cannot
 * hold in a phase whose rate is searched (`lr auto`): it is absolute, and the search moves one rate.
 */
import { error, warning, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Setting, Word } from '../syntax/ast.ts';
import type { Check, CheckContext } from './context.ts';
import { phaseViews, writtenPhases } from './phases.ts';
import { keptBlocks, resolveTarget } from './targets.ts';
import { resolveTrainability, type PhaseTraining } from './trainability.ts';

export type UnitRate = Extract<Setting, { kind: 'lr' }> & { readonly unit: Word };

/** Each phase's per-unit rates as written: index 0 is the first phase (the settings before any `phase`). */
export function unitRatesByPhase(ctx: CheckContext): UnitRate[][] {
  const isUnitRate = (s: Setting): s is UnitRate => s.kind === 'lr' && s.unit !== undefined;
  return writtenPhases(ctx).map((p) => p.settings.filter(isUnitRate));
}

export const unitRatesCheck: Check = {
  name: 'unit-rates',
  run(ctx) {
    const byPhase = unitRatesByPhase(ctx);
    if (byPhase.every((rates) => rates.length === 0)) return [];
    const { phases } = resolveTrainability(ctx);
    const kept = keptBlocks(ctx);
    const found: Diagnostic[] = [];
    // The phases whose rate is searched (`lr auto`, as it carries): their rate is not known before the run.
    const views = phaseViews(ctx);
    byPhase.forEach((rates, from) => {
      for (const rate of rates) {
        // A unit's rate holds from here on (until set again, when it is still a unit's rate).
        const searched = views.slice(from).find((p) => p.lr === null);
        if (searched) {
          found.push(error('auto-unit-rate', `'lr ${rate.unit.quoted ? `"${rate.unit.text}"` : rate.unit.text} ${rate.value.text}' would hold in phase '${searched.name}', whose rate is searched (lr auto): a unit's own rate is absolute and the search moves the phase's rate alone; write that phase's rate, or use 'decay' for per-block rates in it`, rate.span));
          continue;
        }
        if (!rate.unit.quoted && rate.unit.text === 'head') continue; // the head always trains
        const r = resolveTarget(ctx, rate.unit, kept);
        if ('code' in r) {
          found.push(r);
          continue;
        }
        if (r.kind === 'layer' && r.block === undefined) continue; // a model file's layers are known only when it loads
        // The rate holds until a later phase sets the same unit's rate again.
        const until = byPhase.findIndex((later, p) => p > from && later.some((s) => s.unit.text === rate.unit.text));
        const applies = phases.slice(from, until < 0 ? undefined : until);
        const trains = (t: PhaseTraining) => t.trainable.includes(r.block!) || (r.kind === 'layer' && t.trainableLayers.includes(r.layer));
        if (applies.some(trains)) continue;
        const what = r.kind === 'block' ? r.block : `"${r.layer}" (in ${r.block})`;
        const where = until < 0 ? 'neither in this phase nor in a later one' : 'in none of the phases this rate applies to';
        found.push(warning('unit-rate-unused', `${what} trains ${where}, so this rate is never used; unfreeze ${r.kind === 'block' ? r.block : 'it'} in a phase, or remove the rate`, rate.span));
      }
    });
    return found;
  },
};
