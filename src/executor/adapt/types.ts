/**
 * The executor's view of domain adaptation: a small set of hooks the training loop calls, so
 * run.ts stays one loop and each method lives in its own file.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Adapt, Phase } from '../../plan/schema.ts';
import type { ImageSet } from '../data/index.ts';

/** What a training step ran for the adaptation: the source batch followed by the target rows. */
export interface StepOutputs {
  /** Head-input features (after global average pooling), source rows first. */
  readonly features: tf.Tensor2D;
  /** Class probabilities, source rows first. */
  readonly predictions: tf.Tensor2D;
  readonly sourceCount: number;
  readonly targetCount: number;
}

/**
 * An extra loss term on source + target batches; `loss` runs inside the gradient tape.
 *
 * Whatever a step's term takes from JavaScript that changes from step to step (the target rows,
 * DANN's ramped weight, self-training's labels) is made before the step, as tensors `loss` is
 * given: a step is then the same commands on new values, which a GPU backend replays once
 * recorded (../backends/steps.ts), as it does a step without adaptation.
 */
export interface StepTerm {
  /** Indices into the target set to run beside a source batch of `count` rows. */
  targetRows(count: number): Int32Array;
  /** The term's own tensors for a step on target `rows` at training `progress` (0..1 over the job); the caller's to dispose. */
  values(rows: Int32Array, progress: number): tf.Tensor[];
  /** Whether `loss` counts domain hits (how many rows a domain classifier got right). */
  readonly domainHits: boolean;
  /** The loss of a step, given the tensors `values` made for it. */
  loss(out: StepOutputs, values: readonly tf.Tensor[]): { readonly loss: tf.Scalar; readonly domainHits?: tf.Scalar };
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
  /** What `beforePhase` made that the network's weights do not hold (self-training's labels), as plain JSON, for a checkpoint. */
  state(): unknown;
  /** In place of `beforePhase`, when a run resumes within the phase a checkpoint was saved in: puts back its `state()`. */
  restore(state: unknown): void;
  /** The loss term for this phase's steps, or null when it trains on source alone. */
  term(phase: number): StepTerm | null;
  afterPhase(phase: number, ctx: PhaseContext): Promise<void>;
  /** After the last phase, before final metrics and export (AdaBN `at end` swaps in target statistics). */
  afterTraining(ctx: PhaseContext): Promise<void>;
  /** Confident target images used by the running self-training round; null for other methods. */
  pseudoLabels(): number | null;
  dispose(): void;
}
