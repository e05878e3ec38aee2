/**
 * What the executor tells the world while it runs: the same events the CLI prints and the GraphQL
 * service streams. Plain JSON, no tensors; `at` is an ISO timestamp.
 */
import type { Origin } from '../plan/schema.ts';
import type { Evaluation } from './evaluate-model.ts';
import type { ClassScore } from './metrics.ts';

/** One step of a learning-rate search. */
export interface LrPoint {
  readonly lr: number;
  readonly loss: number;
  /** The loss averaged over the steps before, weighted to the recent ones (as fastai does, 0.98). */
  readonly smoothed: number;
}

/** What a learning-rate search found (lr-find.ts). */
export interface LrFindResult {
  readonly phase: string;
  readonly backend: string;
  /** Why that backend: what it is here, and what was skipped. */
  readonly backendReason: string;
  readonly batch: number;
  /** The phases trained before the search, by name; empty where it started from the weights a run starts with. */
  readonly after: readonly string[];
  readonly points: readonly LrPoint[];
  /** Stopped before `to`: the smoothed loss passed 4 times its lowest, or a loss was not a number. */
  readonly diverged: boolean;
  /** The rate where the smoothed loss falls fastest per decade of rate, before its lowest point. */
  readonly steepest: number | null;
  /** A tenth of the rate where the smoothed loss is lowest. */
  readonly tenthOfMinimum: number | null;
}

/** The rate a search suggests: where the loss falls fastest, else a tenth of where it is lowest; null with too few steps. */
export function suggestedRate(r: Pick<LrFindResult, 'steepest' | 'tenthOfMinimum'>): number | null {
  return r.steepest ?? r.tenthOfMinimum;
}

export interface EpochMetrics {
  readonly loss: number;
  readonly accuracy: number;
  readonly valLoss: number | null;
  readonly valAccuracy: number | null;
  readonly valTop5: number | null;
  /** Domain adaptation (`adapt coral|dann|pseudolabel`): mean extra loss term over the epoch's steps. */
  readonly adaptLoss?: number | null;
  /** `adapt dann`: how often the domain classifier told source from target (0.5: indistinguishable). */
  readonly domainAccuracy?: number | null;
  /** `adapt pseudolabel`: confident target images the running self-training round trains on. */
  readonly pseudoLabels?: number | null;
  /** `clip norm`: the mean over the epoch's steps of the gradients' global norm before clipping, and the share of steps it clipped. */
  readonly gradNorm?: number | null;
  readonly clipped?: number | null;
}

export interface FinalMetrics extends EpochMetrics {
  readonly testAccuracy: number | null;
  readonly testTop5: number | null;
  /** Per class, on the validation set (or the test set when `evaluate` is given). */
  readonly perClass: readonly ClassScore[];
  /** confusion[true][predicted], same set as perClass. */
  readonly confusion: readonly (readonly number[])[];
  readonly classes: readonly string[];
}

/** How a phase's training steps ran where the backend records and replays them (backends/steps.ts). */
export interface StepReplay {
  readonly steps: number;
  readonly replayed: number;
  /** Why the last step not replayed was not; null where none was left out past warm-up. */
  readonly note: string | null;
}

/** How a phase's convolution products got their GEMM tiles, where the backend measures them (webgpu on a GPU; backends/select.ts). */
export interface TileTuning {
  /** Products of the phase's training step and validation pass not chosen for earlier in the process. */
  readonly products: number;
  /** Of those, how many were timed on the device, and how many took the choice kept from an earlier run. */
  readonly measured: number;
  readonly cached: number;
  readonly seconds: number;
}

/** The script's `adapt`, as the run found it: the method and the unlabelled target images it adapts to. */
export interface AdaptationSummary {
  readonly method: 'adabn' | 'coral' | 'dann' | 'pseudolabel';
  /** The target folder as the plan names it (`tl serve` resolves it inside its data root). */
  readonly target: string;
  readonly targetImages: number;
}

export type ExecutorEvent =
  | {
      readonly type: 'jobStarted';
      readonly at: string;
      readonly backend: string;
      readonly backendReason: string;
      readonly model: string;
      readonly classes: readonly string[];
      readonly trainImages: number;
      readonly valImages: number;
      readonly phases: readonly { readonly name: string; readonly epochs: number }[];
      /** Null without `adapt` (and absent from events stored before it was reported). */
      readonly adaptation?: AdaptationSummary | null;
    }
  | {
      readonly type: 'phaseStarted';
      readonly at: string;
      readonly phase: number;
      readonly name: string;
      readonly epochs: number;
      readonly trainable: readonly string[];
      readonly trainableParams: number;
      readonly lr: number;
      /** True where `lr` was found by searching (`lr auto`) as the phase started; absent from events stored before it was reported. */
      readonly lrSearched?: boolean;
      /**
       * Blocks, layers or the head that learn at a rate of their own (from `decay` or `lr UNIT`), with
       * that rate before the schedule scales it (absent from events stored before it was reported).
       */
      readonly unitRates?: readonly { readonly unit: string; readonly lr: number }[];
      /** The phase's optimizer and schedule as a script writes them (plan/describe.ts); schedule '' for a constant rate. Absent from events stored before they were reported. */
      readonly optimizer?: string;
      readonly schedule?: string;
      /** `clip norm 1` or `clip value 0.5`; '' where the phase does not clip. Absent from events stored before it was reported. */
      readonly clip?: string;
      readonly cachedFeatures: boolean;
      readonly cachedAt: string | null;
    }
  | { readonly type: 'batchProgress'; readonly at: string; readonly phase: number; readonly epoch: number; readonly batch: number; readonly batches: number; readonly loss: number; readonly lr: number }
  | {
      readonly type: 'epochEnded';
      readonly at: string;
      readonly phase: number;
      readonly epoch: number;
      readonly epochs: number;
      readonly metrics: EpochMetrics;
      readonly imagesPerSecond: number;
      readonly seconds: number;
      readonly etaSeconds: number;
    }
  | { readonly type: 'phaseEnded'; readonly at: string; readonly phase: number; readonly name: string; readonly epochsRun: number; readonly stoppedEarly: boolean; readonly best: EpochMetrics | null; readonly replay: StepReplay | null; readonly tiles: TileTuning | null }
  | { readonly type: 'checkpointSaved'; readonly at: string; readonly phase: number; readonly epoch: number; readonly path: string; readonly reason: 'best' | 'every' | 'cancel' }
  | { readonly type: 'jobFinished'; readonly at: string; readonly metrics: FinalMetrics; readonly exportPath: string | null; readonly seconds: number }
  | { readonly type: 'jobFailed'; readonly at: string; readonly code: string; readonly message: string; readonly origin: Origin | null; readonly cancelled: boolean }
  /** Something the run went on past, that the user should know: an image skipped and why, a cache that did not fit. */
  | { readonly type: 'warning'; readonly at: string; readonly message: string }
  /** A learning-rate search's step (lr-find.ts): the rate it took and the loss it read, 1-based `step` of `steps`; the phase by index and `name`, as phaseStarted says it. */
  | { readonly type: 'lrPoint'; readonly at: string; readonly phase: number; readonly name: string; readonly step: number; readonly steps: number; readonly lr: number; readonly loss: number; readonly smoothed: number }
  /** A learning-rate search's end: what it found (its last word, as jobFinished is a run's). */
  | { readonly type: 'lrFound'; readonly at: string; readonly result: LrFindResult }
  /** An exported model scored on labelled images (evaluate-model.ts): its last word, as jobFinished is a run's. */
  | { readonly type: 'evaluated'; readonly at: string; readonly backend: string; readonly evaluation: Evaluation };

export type ExecutorEventType = ExecutorEvent['type'];

export function now(): string {
  return new Date().toISOString();
}
