/**
 * The seam between the service and whatever holds waiting jobs. The embedded default is
 * `SqliteJobQueue` (a table in the service's own database); a BullMQ/Redis queue can implement the
 * same interface to spread jobs over several machines (see docs/api.md, "Scaling out").
 *
 * The queue holds job ids only: the job itself (script, plan, status, events) lives in the store.
 * A job the queue has handed out is no longer in it; if the process dies while running it, the
 * service's recovery puts it back at the front (see recover.ts).
 */
export interface JobQueue {
  /** Appends a job, or puts it first (`front`: crash recovery) so it runs before newer ones. */
  add(jobId: string, options?: { readonly front?: boolean }): void;
  /** Takes a waiting job out; false when it was not waiting (already handed out, or never added). */
  remove(jobId: string): boolean;
  /** 1-based place in line, or null when it is not waiting. */
  position(jobId: string): number | null;
  has(jobId: string): boolean;
  /** How many jobs wait. */
  size(): number;
  /**
   * Starts handing jobs to `handler` in FIFO order, at most `concurrency` at once. The handler's
   * promise settling frees its slot.
   */
  process(handler: (jobId: string) => Promise<void>, options: { readonly concurrency: number }): void;
  /** Stops handing out jobs; those already handed out keep running. Waiting jobs stay queued. */
  close(): void;
}
