/**
 * Which parts of the network train in which phase: the language's one rule, in one place.
 *
 * A layer trains from the first phase that unfreezes it; a layer that no phase unfreezes trains from
 * the start unless `freeze` covers it; the head always trains. The checks use this for their warnings
 * and the plan builder writes its result into each phase.
 */
import { error, warning, type Diagnostic, type Span } from '../diagnostics/diagnostic.ts';
import type { Word } from '../syntax/ast.ts';
import { BLOCKS } from '../zoo/catalog.ts';
import type { Check, CheckContext, StatementOf } from './context.ts';
import { keptBlocks, resolveTarget } from './targets.ts';

export interface PhaseTraining {
  /** Blocks with trainable layers, shallow to deep, then 'head'. */
  readonly trainable: readonly string[];
  readonly frozenThrough: string | null;
  readonly trainableLayers: readonly string[];
}

export interface Trainability {
  /** One entry per phase: index 0 is the first phase (the statements before any `phase`). */
  readonly phases: readonly PhaseTraining[];
  readonly diagnostics: readonly Diagnostic[];
}

interface Unfreezes {
  blocks: Map<number, Span>;
  layers: Map<string, { span: Span; block: number | undefined }>;
}

function unfreezesOf(ctx: CheckContext, phase: StatementOf<'phase'>, kept: number): Unfreezes {
  const u: Unfreezes = { blocks: new Map(), layers: new Map() };
  for (const clause of phase.unfreeze) {
    if (clause.all) for (let b = 0; b < kept; b++) u.blocks.set(b, clause.span);
    for (const t of clause.targets) {
      const r = resolveTarget(ctx, t, kept);
      if ('code' in r) continue; // reported by the targets check
      if (r.kind === 'block') u.blocks.set(r.index, t.span);
      else u.layers.set(r.layer, { span: t.span, block: r.index });
    }
  }
  return u;
}

export function resolveTrainability(ctx: CheckContext): Trainability {
  const diagnostics: Diagnostic[] = [];
  const kept = keptBlocks(ctx);
  const phases = ctx.all('phase');
  const unfreezes = phases.map((p) => unfreezesOf(ctx, p, kept));

  // When each block is first unfrozen (phase index, 1-based among all phases; 0 = first phase).
  const unfrozenAt = new Map<number, number>();
  unfreezes.forEach((u, i) => u.blocks.forEach((_, b) => { if (!unfrozenAt.has(b)) unfrozenAt.set(b, i + 1); }));

  // What `freeze` covers: whole blocks, and possibly the first part of one block up to a named layer.
  const freeze = ctx.first('freeze');
  let covered = new Set<number>(Array.from({ length: kept }, (_, b) => b));
  let boundary: { layer: string; block: number | undefined } | undefined;
  if (freeze?.mode === 'none') covered = new Set();
  if (freeze?.mode === 'until' && freeze.target) {
    const r = resolveTarget(ctx, freeze.target, kept);
    if (!('code' in r)) {
      if (r.kind === 'block') covered = new Set(Array.from({ length: r.index + 1 }, (_, b) => b));
      else if (r.index !== undefined && ctx.zoo?.blockEnds[r.index] === r.layer) {
        // The last layer of a block: the same as naming the block.
        covered = new Set(Array.from({ length: r.index + 1 }, (_, b) => b));
      } else {
        covered = new Set(r.index === undefined ? [] : Array.from({ length: r.index }, (_, b) => b));
        boundary = { layer: r.layer, block: r.index };
      }
    }
  }

  const result: PhaseTraining[] = [];
  const layersSoFar: string[] = [];
  let previous = new Set<number>();
  for (let p = 0; p <= phases.length; p++) {
    const trains = new Set<number>();
    for (let b = 0; b < kept; b++) {
      const at = unfrozenAt.get(b);
      if (at !== undefined ? at <= p : !covered.has(b)) trains.add(b);
    }
    // The boundary's block trains after the named layer, until a phase unfreezes the block whole.
    let frozenThrough: string | null = null;
    if (boundary) {
      const b = boundary.block;
      const blockUnfrozen = b !== undefined && (unfrozenAt.get(b) ?? Infinity) <= p;
      if (!blockUnfrozen) {
        frozenThrough = boundary.layer;
        if (b !== undefined && !unfrozenAt.has(b)) trains.add(b);
        if (b === undefined) for (let k = 0; k < kept; k++) if (!unfrozenAt.has(k)) trains.add(k);
        const below = [...trains].filter((k) => b !== undefined && k < b);
        const phase = phases[p - 1];
        if (phase && below.length > 0 && below.some((k) => unfrozenAt.get(k) === p)) {
          diagnostics.push(
            error('unfreeze-below-frozen-layer', `this unfreezes ${below.map((k) => BLOCKS[k]).join(', ')} while layers of ${BLOCKS[b!]} up to "${boundary.layer}" stay frozen; unfreeze ${BLOCKS[b!]} in the same phase, or freeze until a block`, phase.span),
          );
        }
      }
    }
    const phase = phases[p - 1];
    const u = unfreezes[p - 1];
    if (phase && u) {
      u.blocks.forEach((span, b) => {
        if (previous.has(b)) {
          diagnostics.push(warning('already-trainable', `${BLOCKS[b]} already trains in the previous phase; this 'unfreeze' changes nothing`, span));
        }
      });
      u.layers.forEach(({ span, block }, layer) => {
        if (block !== undefined && previous.has(block) && frozenThrough === null) {
          diagnostics.push(warning('already-trainable', `"${layer}" already trains (its block ${BLOCKS[block]} does)`, span));
        } else if (!layersSoFar.includes(layer)) layersSoFar.push(layer);
      });
      if (phase.unfreeze.length === 0 && phase.settings.length === 0 && !phase.decay) {
        diagnostics.push(warning('empty-phase', `this phase changes nothing: it continues the previous one; give it 'unfreeze', 'lr' or other settings, or remove it`, phase.span));
      }
    }
    const sorted = [...trains].sort((a, b) => a - b);
    result.push({ trainable: [...sorted.map((b) => BLOCKS[b]!), 'head'], frozenThrough, trainableLayers: [...layersSoFar] });
    previous = trains;
  }
  return { phases: result, diagnostics };
}

export const trainabilityCheck: Check = {
  name: 'trainability',
  run(ctx) {
    const found = [...resolveTrainability(ctx).diagnostics];
    const names = new Map<string, Word>();
    for (const phase of ctx.all('phase')) {
      if (!phase.name) continue;
      const first = names.get(phase.name.text);
      if (first) found.push(error('duplicate-phase-name', `a phase named '${phase.name.text}' already exists; phase names must differ`, phase.name.span, [{ message: 'first here', span: first.span }]));
      else names.set(phase.name.text, phase.name);
    }
    return found;
  },
};
