/**
 * The executor's view of domain adaptation: a small set of hooks the training loop calls, so
 * run.ts stays one loop and each method lives in its own file.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Adapt, Phase } from '../../plan/schema.ts';
import type { ImageSet } from '../data/index.ts';

/** What a training step ran for the adaptation: the source batch followed by `targetRows` target rows. */
export interface StepOutputs {
  /** Head-input features (after global average pooling), source rows first. */
  readonly features: tf.Tensor2D;
  /** Class probabilities, source rows first. */
  readonly predictions: tf.Tensor2D;
  readonly sourceCount: number;
  readonly targetRows: Int32Array;
  /** Training progress over the whole job, 0..1 (DANN's ramp). */
  readonly progress: number;
}

/** An extra loss term on source + target batches; `loss` runs inside the gradient tape. */
export interface StepTerm {
  /** Indices into the target set to run beside a source batch of `count` rows. */
  targetRows(count: number): Int32Array;
  loss(out: StepOutputs): { readonly loss: tf.Scalar; readonly domainHits?: tf.Scalar };
}

/** What a phase hook may use: whole-set passes run by the caller with its own batching. */
export interface PhaseContext {
  /** Class probabilities for every target image, row-major (inference mode). */
  predictTarget(): Promise<Float32Array>;
  readonly classes: number;
}

export interface Adaptation {
  readonly plan: Adapt;
  /** Decoded target images, same size and preprocessing as the source. */
  readonly target: ImageSet;
  /** Variables trained beside the network's (DANN's domain classifier); the head's learning rate. */
  readonly variables: readonly tf.Variable[];
  /** Self-training rounds appended after the plan's phases (pseudolabel), as phases of their own. */
  extraPhases(last: Phase): Phase[];
  /** Before a phase's inputs are prepared or cached (AdaBN re-estimates source statistics here). */
  beforePhase(phase: number, ctx: PhaseContext): Promise<void>;
  /** The loss term for this phase's steps, or null when it trains on source alone. */
  term(phase: number): StepTerm | null;
  afterPhase(phase: number, ctx: PhaseContext): Promise<void>;
  /** After the last phase, before final metrics and export (AdaBN `at end` swaps in target statistics). */
  afterTraining(ctx: PhaseContext): Promise<void>;
  /** Confident target images used by the running self-training round; null for other methods. */
  pseudoLabels(): number | null;
  dispose(): void;
}
