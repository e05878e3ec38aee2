/**
 * Typed publish/subscribe between the service and its subscribers, named `entity:event` with the
 * id first, as in graphql-yoga's pubsub. The embedded default delivers synchronously in-process; a
 * Redis-backed bus (e.g. around @graphql-yoga/redis-event-target) can implement the same interface
 * when several API processes share one queue. Subscribers never rely on delivery being synchronous:
 * event streams number events and fill any gap from the store (see event-stream.ts).
 */
import type { JobRecord, StoredEvent } from './types.ts';

/** Topic -> [id?, payload]: a two-element tuple is keyed by its first element. */
export interface Topics {
  /** A job's events, keyed by job id, in seq order. */
  'job:events': [jobId: string, event: StoredEvent];
  /** A job whose status changed (any job). */
  'job:updates': [job: JobRecord];
}

type Payload<T extends unknown[]> = T extends [unknown, infer P] ? P : T extends [infer P] ? P : never;
type Keys<T extends unknown[]> = T extends [infer K, unknown] ? [K] : [];
export type Listener<K extends keyof Topics> = (payload: Payload<Topics[K]>) => void;

export interface EventBus {
  publish<K extends keyof Topics>(topic: K, ...args: Topics[K]): void;
  /** Returns the function that unsubscribes. */
  subscribe<K extends keyof Topics>(topic: K, ...args: [...Keys<Topics[K]>, Listener<K>]): () => void;
}

export class InProcessEventBus implements EventBus {
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>();

  constructor(private readonly onListenerError: (err: unknown) => void = (err) => console.error('event bus: a subscriber threw:', err)) {}

  publish<K extends keyof Topics>(topic: K, ...args: Topics[K]): void {
    const key = args.length === 2 ? `${topic}|${String(args[0])}` : topic;
    const payload = args[args.length - 1];
    const set = this.listeners.get(key);
    if (!set) return;
    // A listener may unsubscribe (or subscribe others) while we deliver: iterate over a copy.
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (err) {
        // One broken subscriber must not stop delivery to the others, nor the publisher.
        this.onListenerError(err);
      }
    }
  }

  subscribe<K extends keyof Topics>(topic: K, ...args: [...Keys<Topics[K]>, Listener<K>]): () => void {
    const listener = args[args.length - 1] as (payload: unknown) => void;
    const key = args.length === 2 ? `${topic}|${String(args[0])}` : topic;
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  /** Subscribers on a key, for tests and limits. */
  count<K extends keyof Topics>(topic: K, id?: string): number {
    return this.listeners.get(id === undefined ? topic : `${topic}|${id}`)?.size ?? 0;
  }
}
