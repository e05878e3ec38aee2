/** The JobEvent interface and its eight types, one per executor event. */
import type { StoredEvent } from '../../service/types.ts';
import type { Resolvers } from '../generated/schema-types.ts';
import type { EventView } from '../mappers.ts';

export function toView(stored: StoredEvent): EventView {
  return { ...stored.event, jobId: stored.jobId, seq: stored.seq, attempt: stored.attempt, data: stored.event } as EventView;
}

const TYPE_NAMES = {
  jobStarted: 'JobStartedEvent',
  phaseStarted: 'PhaseStartedEvent',
  batchProgress: 'BatchProgressEvent',
  epochEnded: 'EpochEndedEvent',
  phaseEnded: 'PhaseEndedEvent',
  checkpointSaved: 'CheckpointSavedEvent',
  jobFinished: 'JobFinishedEvent',
  jobFailed: 'JobFailedEvent',
} as const;

export const eventResolvers = {
  JobEvent: { __resolveType: (e) => TYPE_NAMES[e.type] },
  JobFailedEvent: {
    line: (e) => e.origin?.line ?? null,
    column: (e) => e.origin?.column ?? null,
  },
} satisfies Pick<Resolvers, 'JobEvent' | 'JobFailedEvent'>;
