/**
 * Domain adaptation in the executor: `createAdaptation` turns the plan's `adapt` node into the
 * hooks run.ts calls (see `Adaptation`).
 *
 * Frozen-prefix caching: target batches go through the same cached prefix as the source. When a
 * phase caches activations at a frozen frontier, the target images are run through that prefix
 * once too, and the loss terms see both domains at the same layer; AdaBN writes its source
 * statistics before the cache is built.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Adapt, Phase } from '../../plan/schema.ts';
import type { Rng } from '../augment/index.ts';
import type { ImageSet } from '../data/index.ts';
import { ExecutorError } from '../errors.ts';
import { adabn } from './adabn.ts';
import { coralTerm } from './coral.ts';
import { dannTerm, domainClassifier } from './dann.ts';
import { confidentRows, pseudolabelTerm, type Confident } from './pseudolabel.ts';
import { targetSampler, type SamplerState, type TargetSampler } from './target-rows.ts';
import type { Adaptation } from './types.ts';

export type { Adaptation, PhaseContext, StepOutputs, StepTerm } from './types.ts';
export { dualForward, type DualForward } from './dual-forward.ts';
export { loadTarget, requireTarget } from './load-target.ts';

export interface AdaptationOptions {
  readonly full: tf.LayersModel;
  readonly base: tf.LayersModel;
  /** Width of the head's input features (the base's last channel count). */
  readonly featureSize: number;
  readonly source: ImageSet;
  readonly target: ImageSet;
  /** Preprocessed image batch of a set. */
  readonly images: (set: ImageSet, indices: Int32Array) => tf.Tensor;
  /** Index of the first phase after the plan's own (where self-training rounds start). */
  readonly planPhases: number;
  readonly rng: Rng;
}

export function createAdaptation(plan: Adapt, options: AdaptationOptions): Adaptation {
  const allTarget = () => Int32Array.from({ length: options.target.count }, (_, i) => i);
  const base = {
    plan,
    target: options.target,
    variables: [] as tf.Variable[],
    extraPhases: (): Phase[] => [],
    beforePhase: async () => {},
    // AdaBN's source statistics are in the network's weights, DANN's classifier in its variables.
    state: (): unknown => null,
    restore: (_state: unknown) => {},
    afterPhase: async () => {},
    afterTraining: async () => {},
    pseudoLabels: () => null,
    dispose() {},
  };
  switch (plan.method) {
    case 'adabn': {
      const bn = adabn({ model: options.full, base: options.base, images: options.images });
      if (bn.layers === 0) {
        throw new ExecutorError('adapt-no-batchnorm', 'adabn re-estimates BatchNorm statistics, but this model has no BatchNorm layers; use coral or dann', plan.origin);
      }
      let onTarget = false;
      const toTarget = async () => {
        await bn.useStatisticsOf(options.target);
        onTarget = true;
      };
      return {
        ...base,
        term: () => null,
        beforePhase: async () => {
          await bn.useStatisticsOf(options.source);
          onTarget = false;
        },
        afterPhase: async () => {
          if (plan.at === 'phase') await toTarget();
        },
        afterTraining: async () => {
          if (!onTarget) await toTarget();
        },
      };
    }
    case 'coral': {
      const sampler = targetSampler(allTarget, options.rng);
      const term = coralTerm(plan.weight, sampler);
      return { ...base, term: () => term, ...samplerState(sampler) };
    }
    case 'dann': {
      const classifier = domainClassifier(options.featureSize, Math.floor(options.rng.next() * 2 ** 30));
      const sampler = targetSampler(allTarget, options.rng);
      const term = dannTerm(plan.weight, classifier, sampler);
      return { ...base, variables: classifier.variables, term: () => term, dispose: () => classifier.dispose(), ...samplerState(sampler) };
    }
    case 'pseudolabel': {
      let confident: Confident | null = null;
      const sampler = targetSampler(() => confident?.rows ?? new Int32Array(0), options.rng);
      const term = pseudolabelTerm(() => confident!, sampler, classesOf(options));
      return {
        ...base,
        extraPhases: (last) => Array.from({ length: plan.rounds }, (_, r) => ({
          ...last,
          name: `pseudolabel-${r + 1}`,
          // The rounds together take as many epochs as the last phase.
          epochs: Math.max(1, Math.ceil(last.epochs / plan.rounds)),
          origin: plan.origin,
        })),
        beforePhase: async (phase, ctx) => {
          if (phase < options.planPhases) return;
          confident = confidentRows(await ctx.predictTarget(), ctx.classes, plan.threshold);
        },
        state: () => ({ sampler: sampler.state(), confident: confident && { rows: Array.from(confident.rows), labels: Array.from(confident.labels) } }),
        restore: (state: unknown) => {
          const saved = state as { sampler: SamplerState; confident: { rows: number[]; labels: number[] } | null };
          sampler.restore(saved.sampler);
          confident = saved.confident && { rows: Int32Array.from(saved.confident.rows), labels: Int32Array.from(saved.confident.labels) };
        },
        term: (phase) => (phase >= options.planPhases ? term : null),
        pseudoLabels: () => confident?.rows.length ?? null,
      };
    }
  }
}

/** The hooks that keep where a method's target passes stand in checkpoints. */
function samplerState(sampler: TargetSampler): Pick<Adaptation, 'state' | 'restore'> {
  return { state: () => ({ sampler: sampler.state() }), restore: (state) => sampler.restore((state as { sampler: SamplerState }).sampler) };
}

function classesOf(options: AdaptationOptions): number {
  const out = options.full.outputs[0]!.shape;
  return out[out.length - 1] as number;
}
