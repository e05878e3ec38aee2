/** The service's records: jobs and their numbered events, as the store keeps them. Plain JSON. */
import type { Evaluation } from '../executor/evaluate-model.ts';
import type { EpochMetrics, ExecutorEvent, FinalMetrics, LrFindResult } from '../executor/events.ts';
import type { Origin, Plan } from '../plan/schema.ts';

export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const JOB_STATUSES: readonly JobStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

export function isTerminal(status: JobStatus): boolean {
  return status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED';
}

export interface JobError {
  readonly code: string;
  readonly message: string;
  readonly origin: Origin | null;
}

/**
 * What a job does with its script: train it (the default), search one phase's learning rate
 * (executor/lr-find.ts: `phase` null for the first that trains; `fromStart` skips training the
 * phases before it; `steps` rates tried), or score the model another job exported on labelled
 * images (executor/evaluate-model.ts: `of` that job, `data` under the data root as the client wrote it).
 */
export type JobTask =
  | { readonly kind: 'train' }
  | { readonly kind: 'lrFind'; readonly phase: string | null; readonly fromStart: boolean; readonly steps: number }
  | { readonly kind: 'evaluate'; readonly of: string; readonly data: string; readonly worst: number; readonly tta: boolean };

export const TRAIN: JobTask = { kind: 'train' };

export interface JobRecord {
  readonly id: string;
  /** Creation order, strictly increasing: the pagination cursor. */
  readonly cursor: number;
  readonly name: string | null;
  readonly status: JobStatus;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly source: string;
  readonly task: JobTask;
  /** As compiled, with the paths the user wrote; they are resolved against the data root at run time. */
  readonly plan: Plan;
  readonly attempts: number;
  /** The next run continues from the job's checkpoint when there is one (set by resumeJob and crash recovery). */
  readonly resume: boolean;
  readonly cancelRequested: boolean;
  readonly phase: number | null;
  readonly phaseName: string | null;
  readonly epoch: number | null;
  readonly metrics: EpochMetrics | null;
  readonly result: FinalMetrics | null;
  /** What an `lrFind` job found, once SUCCEEDED. */
  readonly lrFound: LrFindResult | null;
  /** What an `evaluate` job measured, once SUCCEEDED. */
  readonly evaluation: Evaluation | null;
  readonly exportPath: string | null;
  readonly error: JobError | null;
  /** The seq of the job's latest event; 0 before the first. */
  readonly lastSeq: number;
}

/** One executor event as stored: numbered per job from 1, never renumbered. */
export interface StoredEvent<E extends ExecutorEvent = ExecutorEvent> {
  readonly jobId: string;
  readonly seq: number;
  /** The job's attempt that emitted it (1 for the first run, 2 after a resume or a crash, ...). */
  readonly attempt: number;
  readonly event: E;
}

/** The events after which a job may be over: the executor's last word on a run. */
export function isTerminalEvent(e: ExecutorEvent): boolean {
  return e.type === 'jobFinished' || e.type === 'jobFailed' || e.type === 'lrFound' || e.type === 'evaluated';
}
