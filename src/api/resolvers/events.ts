/** The JobEvent interface and its types, one per executor event. */
import type { StoredEvent } from '../../service/types.ts';
import type { Resolvers } from '../generated/schema-types.ts';
import type { EventView } from '../mappers.ts';

/** One view per stored event, shared by every subscriber it is published to (200 subscribers: 1 copy, not 200). */
const views = new WeakMap<StoredEvent, EventView>();

export function toView(stored: StoredEvent): EventView {
  let view = views.get(stored);
  if (!view) {
    view = { ...stored.event, jobId: stored.jobId, seq: stored.seq, attempt: stored.attempt, data: stored.event } as EventView;
    views.set(stored, view);
  }
  return view;
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
  warning: 'JobWarningEvent',
  lrPoint: 'LrPointEvent',
  lrFound: 'LrFoundEvent',
  evaluated: 'EvaluatedEvent',
} as const;

export const eventResolvers = {
  JobEvent: { __resolveType: (e) => TYPE_NAMES[e.type] },
  // Events stored before the field existed have none.
  PhaseStartedEvent: { unitRates: (e) => e.unitRates ?? [] },
  JobFailedEvent: {
    line: (e) => e.origin?.line ?? null,
    column: (e) => e.origin?.column ?? null,
  },
} satisfies Pick<Resolvers, 'JobEvent' | 'PhaseStartedEvent' | 'JobFailedEvent'>;
