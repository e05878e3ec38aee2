/**
 * Start-up reconciliation after a crash (or a shutdown that paused running jobs): a job the store
 * says was RUNNING goes back to the front of the queue, marked to resume from its checkpoint; a
 * QUEUED job the queue lost (killed between the queue's take and the status change) is queued again.
 * Stored events are left exactly as they are: the next attempt's events continue the numbering.
 */
import type { EventBus } from './event-bus.ts';
import type { JobQueue } from './job-queue.ts';
import type { JobStore } from './job-store.ts';
import type { Failure } from './scheduler.ts';

export interface RecoverOptions {
  readonly store: JobStore;
  readonly queue: JobQueue;
  readonly bus: EventBus;
  /** A job that has started this many times is failed instead of restarted (it may be what kills the server). */
  readonly maxAttempts: number;
  readonly fail: (jobId: string, attempt: number, failure: Failure) => void;
}

export interface Recovered {
  readonly resumed: readonly string[];
  readonly requeued: readonly string[];
  readonly failed: readonly string[];
}

export function recover(o: RecoverOptions): Recovered {
  const resumed: string[] = [];
  const requeued: string[] = [];
  const failed: string[] = [];
  // Oldest first at the front: put them there newest first.
  for (const job of o.store.withStatus('RUNNING').reverse()) {
    if (job.attempts >= o.maxAttempts) {
      o.fail(job.id, job.attempts, { code: 'too-many-attempts', message: `the job was running when the server stopped ${job.attempts} times; not restarting it again (resumeJob retries it)` });
      failed.push(job.id);
      continue;
    }
    o.bus.publish('job:updates', o.store.setStatus(job.id, 'QUEUED', { resume: true }));
    if (!o.queue.has(job.id)) o.queue.add(job.id, { front: true });
    resumed.unshift(job.id);
  }
  for (const job of o.store.withStatus('QUEUED')) {
    if (resumed.includes(job.id) || o.queue.has(job.id)) continue;
    o.queue.add(job.id);
    requeued.push(job.id);
  }
  return { resumed, requeued, failed };
}
