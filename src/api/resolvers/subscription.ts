/** Live streams: one job's events (replay, then live) and every job's status changes. */
import type { JobRecord } from '../../service/types.ts';
import type { SubscriptionResolvers } from '../generated/schema-types.ts';
import type { EventView } from '../mappers.ts';
import { intArg, refused } from './errors.ts';
import { toView } from './events.ts';

/** Maps each item, keeping `return()` so an unsubscribing client ends the source at once. */
function mapStream<T, U>(source: AsyncIterableIterator<T>, fn: (item: T) => U): AsyncIterableIterator<U> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const r = await source.next();
      return r.done ? { value: undefined, done: true } : { value: fn(r.value), done: false };
    },
    async return() {
      await source.return?.();
      return { value: undefined, done: true };
    },
  };
}

export const Subscription: SubscriptionResolvers = {
  jobEvents: {
    subscribe: (_, args, { service }) => {
      const after = intArg('after', args.after, 0, 0, Number.MAX_SAFE_INTEGER);
      const stream = service.openEvents(args.jobId, after);
      if ('code' in stream) throw refused(stream);
      return mapStream(stream, toView);
    },
    resolve: (event: EventView) => event,
  },
  jobUpdates: {
    subscribe: (_, _args, { service }) => {
      const channel = service.openUpdates();
      if ('code' in channel) throw refused(channel);
      return channel;
    },
    resolve: (job: JobRecord) => job,
  },
};
