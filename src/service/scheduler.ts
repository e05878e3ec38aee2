/**
 * Runs queued jobs: takes them from the queue in order, runs each in a worker through the
 * JobRunner, and stores and publishes every event the executor emits. The store's transaction
 * assigns the seq and moves the status, then the bus announces it, in that order, so a subscriber
 * never sees an event the store does not hold.
 */
import { join, resolve } from 'node:path';
import { LineMap } from '../diagnostics/location.ts';
import type { BackendName } from '../executor/backends/names.ts';
import { now, type ExecutorEvent } from '../executor/events.ts';
import type { Origin } from '../plan/schema.ts';
import type { EventBus } from './event-bus.ts';
import type { JobQueue } from './job-queue.ts';
import type { JobRunner, RunOutcome } from './job-runner.ts';
import type { JobStore } from './job-store.ts';
import { settleCheckpoint } from '../executor/checkpoint.ts';
import { dataFormat } from '../plan/build.ts';
import { confinePlan, whyOutsideDataRoot } from './path-guard.ts';
import { isTerminalEvent, type JobRecord } from './types.ts';
import type { RunRequest } from './worker-protocol.ts';

export interface SchedulerOptions {
  readonly store: JobStore;
  readonly queue: JobQueue;
  readonly bus: EventBus;
  readonly runner: JobRunner;
  readonly dataRoot: string;
  readonly runsDir: string;
  readonly backend: BackendName;
  readonly concurrency: number;
  readonly progressEveryMs?: number;
  readonly log: (line: string) => void;
}

export interface Failure {
  readonly code: string;
  readonly message: string;
  readonly origin?: Origin | null;
  readonly cancelled?: boolean;
}

interface Running {
  readonly controller: AbortController;
  /** Stopping for a server shutdown: the job stays RUNNING and resumes on the next start. */
  suspending: boolean;
  done: Promise<void>;
}

/** Where a job's files live: executor state (checkpoints) and exports, side by side. */
export function jobPaths(runsDir: string, jobId: string) {
  const dir = join(runsDir, jobId);
  return { dir, state: join(dir, 'state'), exports: join(dir, 'export') };
}

export class Scheduler {
  private readonly running = new Map<string, Running>();

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    this.o.queue.process((jobId) => this.run(jobId), { concurrency: this.o.concurrency });
  }

  runningCount(): number {
    return this.running.size;
  }

  /** Asks a running job to stop after its current batch; false when it is not running here. */
  cancel(jobId: string): boolean {
    const entry = this.running.get(jobId);
    if (!entry) return false;
    entry.controller.abort();
    return true;
  }

  /** Ends a job that has no run to end it (cancelled while queued, a crash): writes the executor's own jobFailed event. */
  fail(jobId: string, attempt: number, failure: Failure): void {
    const event: ExecutorEvent = { type: 'jobFailed', at: now(), code: failure.code, message: failure.message, origin: failure.origin ?? null, cancelled: failure.cancelled ?? false };
    this.record(jobId, attempt, event);
  }

  /**
   * Stops taking jobs and pauses the running ones: each saves a checkpoint and stays RUNNING in the
   * store, so the next start resumes it. Workers that take longer than `graceMs` are killed.
   */
  async stop(graceMs: number): Promise<void> {
    this.o.queue.close();
    for (const entry of this.running.values()) {
      entry.suspending = true;
      entry.controller.abort();
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all([...this.running.values()].map((e) => e.done)), deadline]);
    clearTimeout(timer);
    await this.o.runner.close();
  }

  private run(jobId: string): Promise<void> {
    const { store, bus } = this.o;
    const job = store.get(jobId);
    // Cancelled (or gone) since it was queued: nothing to do. Checked in the same tick as the take.
    if (!job || job.status !== 'QUEUED') return Promise.resolve();
    const attempt = job.attempts + 1;
    bus.publish('job:updates', store.setStatus(jobId, 'RUNNING', { startedAt: now(), finishedAt: null, attempts: attempt, error: null, cancelRequested: false }));
    const entry: Running = { controller: new AbortController(), suspending: false, done: Promise.resolve() };
    this.running.set(jobId, entry);
    entry.done = this.execute(jobId, attempt, job.resume, entry)
      .catch((err: unknown) => {
        // A bug or the disk, not the job: still end it, so it is not RUNNING forever.
        this.o.log(`job ${jobId}: ${(err as Error).stack ?? String(err)}`);
        if (!entry.suspending && store.get(jobId)?.status === 'RUNNING') this.fail(jobId, attempt, { code: 'internal', message: `the service failed to run the job: ${(err as Error).message}` });
      })
      .finally(() => this.running.delete(jobId));
    return entry.done;
  }

  private async execute(jobId: string, attempt: number, resumeWanted: boolean, entry: Running): Promise<void> {
    const { store } = this.o;
    const paths = jobPaths(this.o.runsDir, jobId);
    const job = store.require(jobId);
    const prepared = await this.prepare(job, paths.exports);
    if ('failure' in prepared) return this.fail(jobId, attempt, prepared.failure);
    if (entry.controller.signal.aborted && !entry.suspending) return this.fail(jobId, attempt, { code: 'cancelled', message: 'cancelled before it started', cancelled: true });
    const resume = resumeWanted && settleCheckpoint(join(paths.state, 'checkpoint')) !== null;
    let outcome: RunOutcome;
    try {
      outcome = await this.o.runner.run(
        { jobId, ...prepared, baseDir: this.o.dataRoot, runDir: paths.state, resume, backend: this.o.backend, ...(this.o.progressEveryMs !== undefined && { progressEveryMs: this.o.progressEveryMs }) },
        { signal: entry.controller.signal, onEvent: (e) => this.onEvent(jobId, attempt, e, entry) },
      );
    } catch (err) {
      outcome = { kind: 'crashed', message: (err as Error).message };
    }
    if (entry.suspending) return;
    if (store.require(jobId).status !== 'RUNNING') return;
    // The run ended without the executor's last word: a worker crash, or a kill after a cancel's grace period.
    if (entry.controller.signal.aborted) this.fail(jobId, attempt, { code: 'cancelled', message: 'cancelled; the worker did not stop in time and was killed', cancelled: true });
    else if (outcome.kind === 'failed') this.fail(jobId, attempt, { code: outcome.code, message: outcome.message });
    else this.fail(jobId, attempt, { code: 'worker-crashed', message: outcome.kind === 'crashed' ? outcome.message : 'the worker ended without reporting the job finished' });
  }

  /**
   * What the worker gets, with its paths checked again at start (links under the data root may have
   * changed since the job was submitted) and made absolute: the plan's, or for an evaluation, its data
   * and the model the job it evaluates exported.
   */
  private async prepare(job: JobRecord, exportRoot: string): Promise<Pick<RunRequest, 'plan' | 'task' | 'model'> | { failure: Failure }> {
    const { task } = job;
    if (task.kind === 'evaluate') {
      const outside = await whyOutsideDataRoot(this.o.dataRoot, task.data, { format: dataFormat(task.data), label: 'evaluate' });
      if (outside) return { failure: { code: 'path-outside-data-root', message: outside } };
      const model = this.o.store.get(task.of)?.exportPath;
      if (!model) return { failure: { code: 'no-model', message: `job '${task.of}', whose model this evaluates, is gone` } };
      return { plan: job.plan, task: { ...task, data: resolve(this.o.dataRoot, task.data) }, model };
    }
    const confined = await confinePlan(job.plan, { dataRoot: this.o.dataRoot, exportRoot });
    if (!confined.plan) {
      const d = confined.diagnostics[0]!;
      const at = new LineMap(job.source).position(d.span.start);
      return { failure: { code: d.code, message: d.message, origin: { ...d.span, ...at } } };
    }
    return { plan: confined.plan, task };
  }

  private onEvent(jobId: string, attempt: number, event: ExecutorEvent, entry: Running): void {
    // A pause for shutdown is not the user's cancel: keep the job RUNNING so the next start resumes it.
    if (entry.suspending && event.type === 'jobFailed' && event.cancelled) return;
    if (event.type === 'warning') this.o.log(`job ${jobId}: warning: ${event.message}`);
    try {
      this.record(jobId, attempt, event);
    } catch (err) {
      // Called from the worker's IPC handler: a throw here would take the whole server down.
      this.o.log(`job ${jobId}: could not store a ${event.type} event: ${(err as Error).message}`);
    }
  }

  private record(jobId: string, attempt: number, event: ExecutorEvent): void {
    const stored = this.o.store.append(jobId, attempt, event);
    this.o.bus.publish('job:events', jobId, stored);
    if (isTerminalEvent(event)) this.o.bus.publish('job:updates', this.o.store.require(jobId));
  }
}
