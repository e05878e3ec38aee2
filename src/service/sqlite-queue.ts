/**
 * The embedded job queue: a table of job ids ordered by `pos`, in the service's SQLite file, so
 * waiting jobs survive a restart in the same order. Front insertion takes a position below the
 * smallest one.
 */
import type { Db } from './db.ts';
import type { JobQueue } from './job-queue.ts';

export class SqliteJobQueue implements JobQueue {
  private readonly stmt;
  private handler: ((jobId: string) => Promise<void>) | null = null;
  private concurrency = 1;
  private active = 0;
  private closed = false;

  constructor(db: Db) {
    this.stmt = {
      back: db.prepare("INSERT INTO queue (pos, job_id) VALUES ((SELECT COALESCE(MAX(pos), 0) + 1 FROM queue), ?)"),
      front: db.prepare("INSERT INTO queue (pos, job_id) VALUES ((SELECT COALESCE(MIN(pos), 1) - 1 FROM queue), ?)"),
      remove: db.prepare<[string]>('DELETE FROM queue WHERE job_id = ?'),
      takeFirst: db.prepare<[], { job_id: string }>('DELETE FROM queue WHERE pos = (SELECT MIN(pos) FROM queue) RETURNING job_id'),
      position: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM queue WHERE pos <= (SELECT pos FROM queue WHERE job_id = ?)'),
      has: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM queue WHERE job_id = ?'),
      size: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM queue'),
    };
  }

  add(jobId: string, options: { readonly front?: boolean } = {}): void {
    (options.front ? this.stmt.front : this.stmt.back).run(jobId);
    this.pump();
  }

  remove(jobId: string): boolean {
    return this.stmt.remove.run(jobId).changes > 0;
  }

  position(jobId: string): number | null {
    const n = this.stmt.position.get(jobId)?.n ?? 0;
    return n > 0 ? n : null;
  }

  has(jobId: string): boolean {
    return this.stmt.has.get(jobId) !== undefined;
  }

  size(): number {
    return this.stmt.size.get()?.n ?? 0;
  }

  process(handler: (jobId: string) => Promise<void>, options: { readonly concurrency: number }): void {
    this.handler = handler;
    this.concurrency = Math.max(1, options.concurrency);
    this.pump();
  }

  close(): void {
    this.closed = true;
  }

  /** Hands out jobs while there are free slots. The handler is called synchronously, so a job taken is marked running in the same tick. */
  private pump(): void {
    while (!this.closed && this.handler && this.active < this.concurrency) {
      const next = this.stmt.takeFirst.get();
      if (!next) return;
      this.active++;
      const done = () => {
        this.active--;
        // Let the caller's bookkeeping for the finished job settle before starting the next one.
        queueMicrotask(() => this.pump());
      };
      this.handler(next.job_id).then(done, done);
    }
  }
}
