/**
 * Which TypeScript type backs each GraphQL type (graphql-codegen calls these mappers). The
 * generated `Resolvers` type uses them as resolver parents and requires a resolver for every field
 * the mapped type does not carry itself.
 */
import type { EpochMetrics, ExecutorEvent, FinalMetrics, LrFindResult } from '../executor/events.ts';
import type { JobRecord } from '../service/types.ts';
import type { ZooEntry } from '../zoo/catalog.ts';

/** An event as the API serves it: the executor's own fields beside the store's numbering. */
export type EventView<T extends ExecutorEvent['type'] = ExecutorEvent['type']> = Extract<ExecutorEvent, { type: T }> & {
  readonly jobId: string;
  readonly seq: number;
  readonly attempt: number;
  readonly data: ExecutorEvent;
};

export interface Mappers {
  Job: JobRecord;
  JobEvent: EventView;
  JobStartedEvent: EventView<'jobStarted'>;
  PhaseStartedEvent: EventView<'phaseStarted'>;
  BatchProgressEvent: EventView<'batchProgress'>;
  EpochEndedEvent: EventView<'epochEnded'>;
  PhaseEndedEvent: EventView<'phaseEnded'>;
  CheckpointSavedEvent: EventView<'checkpointSaved'>;
  JobFinishedEvent: EventView<'jobFinished'>;
  JobFailedEvent: EventView<'jobFailed'>;
  JobWarningEvent: EventView<'warning'>;
  LrPointEvent: EventView<'lrPoint'>;
  LrFoundEvent: EventView<'lrFound'>;
  LrFindResult: LrFindResult;
  EpochMetrics: EpochMetrics;
  FinalMetrics: FinalMetrics;
  ZooModel: ZooEntry;
}
