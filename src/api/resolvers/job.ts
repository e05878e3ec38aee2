/** Job fields the stored record does not carry as the schema shapes them. */
import { suggestedRate } from '../../executor/events.ts';
import type { Resolvers } from '../generated/schema-types.ts';
import { intArg } from './errors.ts';
import { toView } from './events.ts';

const KINDS = { train: 'TRAIN', lrFind: 'LR_FIND', evaluate: 'EVALUATE' } as const;

export const jobResolvers = {
  Job: {
    kind: (job) => KINDS[job.task.kind],
    evaluates: (job, _args, { service }) => (job.task.kind === 'evaluate' ? service.get(job.task.of) : null),
    evaluationData: (job) => (job.task.kind === 'evaluate' ? job.task.data : null),
    queuePosition: (job, _args, { service }) => (job.status === 'QUEUED' ? service.queuePosition(job.id) : null),
    error: (job) => job.error && { code: job.error.code, message: job.error.message, line: job.error.origin?.line ?? null, column: job.error.origin?.column ?? null },
    events: (job, args, { service }) => service.events(job.id, intArg('after', args.after, 0, 0, Number.MAX_SAFE_INTEGER), intArg('first', args.first, 100, 0, 1000)).map(toView),
  },
  LrFindResult: {
    suggested: (r) => suggestedRate(r),
  },
} satisfies Pick<Resolvers, 'Job' | 'LrFindResult'>;
