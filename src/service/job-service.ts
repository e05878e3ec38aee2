/**
 * The embedded TL service: compile and queue scripts, cancel and resume jobs, read them back, and
 * stream their events. Holds the store (SQLite), the queue, the event bus and the scheduler that
 * runs jobs in worker processes. Knows nothing of GraphQL; src/api puts it on the network.
 *
 * @example
 * const service = await JobService.open({ dbFile: 'tl.db', dataRoot: 'data', runsDir: 'runs' });
 * const { job } = await service.submit({ source: 'use tiny\ndata "imgs" split 0.2\nepochs 2' });
 * for await (const e of service.openEvents(job!.id, 0) as JobEventStream) console.log(e.seq, e.event.type);
 * await service.stop();
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename, resolve, sep } from 'node:path';
import { compile } from '../compile.ts';
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import { hasErrors } from '../diagnostics/diagnostic.ts';
import type { BackendName } from '../executor/backends/names.ts';
import { wasmThreads } from '../executor/backends/threads.ts';
import { prepareWritable, whyNotWritable } from '../executor/make-directory.ts';
import { dataFormat } from '../plan/build.ts';
import type { Plan } from '../plan/schema.ts';
import { Channel } from './channel.ts';
import { openDatabase, type Db } from './db.ts';
import { InProcessEventBus, type EventBus } from './event-bus.ts';
import { JobEventStream } from './event-stream.ts';
import { ForkRunner } from './fork-runner.ts';
import type { JobQueue } from './job-queue.ts';
import type { BackendReport, JobRunner } from './job-runner.ts';
import { JobStore, type JobPage } from './job-store.ts';
import { DEFAULT_LIMITS, type Limits, type Refusal } from './limits.ts';
import { confinePlan, whyOutsideDataRoot } from './path-guard.ts';
import { STARTER_MODELS, starterScript } from '../format/starter.ts';
import { recover, type Recovered } from './recover.ts';
import { jobPaths, Scheduler } from './scheduler.ts';
import { SqliteJobQueue } from './sqlite-queue.ts';
import { TRAIN, type JobRecord, type JobStatus, type JobTask, type StoredEvent } from './types.ts';

export interface ServiceOptions {
  /** The SQLite file; created when missing. */
  readonly dbFile: string;
  /** Scripts' data, model and weights paths must resolve inside it. */
  readonly dataRoot: string;
  /** Each job gets `<runsDir>/<jobId>/` with `state/` (checkpoints) and `export/` (exported models). */
  readonly runsDir: string;
  /** Jobs running at once (default 1: one accelerator, one job). */
  readonly concurrency?: number;
  readonly backend?: BackendName;
  readonly limits?: Partial<Limits>;
  /** Crash recovery restarts a job at most this many attempts (default 5). */
  readonly maxAttempts?: number;
  readonly progressEveryMs?: number;
  /** Start a worker before the first job arrives (default true); off for servers that mostly compile. */
  readonly prestartWorker?: boolean;
  readonly log?: (line: string) => void;
  /** Defaults: worker processes, the SQLite queue, the in-process bus. */
  readonly runner?: JobRunner;
  readonly queue?: (db: Db) => JobQueue;
  readonly bus?: EventBus;
}

export interface SubmitResult {
  readonly job: JobRecord | null;
  /** The compiler's and the path guard's, with spans into the source. */
  readonly diagnostics: readonly Diagnostic[];
  readonly refusal: Refusal | null;
}

export interface CompileCheck {
  readonly plan: Plan | null;
  readonly diagnostics: readonly Diagnostic[];
  readonly refusal: Refusal | null;
}

export interface JobAction {
  readonly job: JobRecord | null;
  readonly refusal: Refusal | null;
}

export class JobService {
  readonly limits: Limits;
  readonly recovered: Recovered;
  private readonly subscribers = new Map<string, number>();
  private updateSubscribers = 0;
  private backendReport: Promise<BackendReport> | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly o: ServiceOptions & { readonly dataRoot: string; readonly runsDir: string },
    private readonly db: Db,
    readonly store: JobStore,
    readonly queue: JobQueue,
    readonly bus: EventBus,
    private readonly runner: JobRunner,
    private readonly scheduler: Scheduler,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.recovered = recover({ store, queue, bus, maxAttempts: o.maxAttempts ?? 5, fail: (id, attempt, f) => scheduler.fail(id, attempt, f) });
    scheduler.start();
    if (o.prestartWorker !== false) runner.warm();
  }

  static open(options: ServiceOptions): JobService {
    const dataRoot = resolve(options.dataRoot);
    if (!statSync(dataRoot, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`the data root '${dataRoot}' is not a folder`);
    const runsDir = resolve(options.runsDir);
    try {
      prepareWritable(runsDir);
    } catch (err) {
      throw new Error(`cannot keep jobs' runs in '${runsDir}': ${whyNotWritable(err)}`, { cause: err });
    }
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const db = openDatabase(options.dbFile);
    const store = new JobStore(db);
    const queue = options.queue?.(db) ?? new SqliteJobQueue(db);
    const bus = options.bus ?? new InProcessEventBus((err) => log(`event bus: a subscriber failed: ${String(err)}`));
    const concurrency = options.concurrency ?? 1;
    // Jobs training side by side share the cores (TL_THREADS, where set, is each job's).
    const runner = options.runner ?? new ForkRunner({ log, threads: wasmThreads(process.env, undefined, concurrency) });
    const scheduler = new Scheduler({
      store, queue, bus, runner, dataRoot, runsDir, log,
      backend: options.backend ?? 'auto',
      concurrency,
      ...(options.progressEveryMs !== undefined && { progressEveryMs: options.progressEveryMs }),
    });
    return new JobService({ ...options, dataRoot, runsDir, log }, db, store, queue, bus, runner, scheduler);
  }

  /**
   * Compiles, applies the path rules and queues. Refuses oversize scripts and a full queue, and a
   * learning-rate search (`task` lrFind) of a phase the script does not have or of too many steps.
   */
  async submit(input: { readonly source: string; readonly name?: string | null; readonly task?: JobTask }): Promise<SubmitResult> {
    const checked = await this.compile(input.source);
    if (checked.refusal || !checked.plan) return { job: null, diagnostics: checked.diagnostics, refusal: checked.refusal };
    const name = input.name ?? null;
    const task = input.task ?? TRAIN;
    const refusal = (name !== null && name.length > this.limits.maxNameLength ? { code: 'name-too-long', message: `the job name has ${name.length} characters; the limit is ${this.limits.maxNameLength}` } : null)
      ?? taskRefusal(task, checked.plan)
      ?? this.queueFull();
    if (refusal) return { job: null, diagnostics: checked.diagnostics, refusal };
    const job = this.store.insert({ id: randomUUID(), name, source: input.source, plan: checked.plan, createdAt: new Date().toISOString(), task });
    this.bus.publish('job:updates', job);
    this.queue.add(job.id);
    return { job: this.store.require(job.id), diagnostics: checked.diagnostics, refusal: null };
  }

  /** The compiler's diagnostics plus this server's path rules; no job. `plan` keeps the paths as written. */
  async compile(source: string): Promise<CompileCheck> {
    const bytes = Buffer.byteLength(source, 'utf8');
    if (bytes > this.limits.maxScriptBytes) return { plan: null, diagnostics: [], refusal: { code: 'script-too-large', message: `the script is ${bytes} bytes; this server accepts at most ${this.limits.maxScriptBytes}` } };
    const { plan, diagnostics } = compile(source);
    if (!plan) return { plan: null, diagnostics, refusal: null };
    const confined = await confinePlan(plan, { dataRoot: this.o.dataRoot, exportRoot: jobPaths(this.o.runsDir, 'check').exports });
    const all = [...diagnostics, ...confined.diagnostics].sort((a, b) => a.span.start - b.span.start);
    return { plan: hasErrors(all) ? null : plan, diagnostics: all, refusal: null };
  }

  /**
   * A first script for a folder under the data root, as `tl init` writes it, its paths from the data
   * root (where a job's relative paths start); or why not (outside the root, not a data folder).
   */
  async starterScript(data: string, model = 'mobilenetv2'): Promise<{ readonly source: string | null; readonly error: string | null }> {
    if (data.length > 4096) return { source: null, error: `the path is ${data.length} characters long; a data folder's path is at most 4096` };
    if (!STARTER_MODELS.includes(model)) return { source: null, error: `no pretrained model '${model.slice(0, 100)}'; first scripts are for ${STARTER_MODELS.join(', ')}` };
    const outside = await whyOutsideDataRoot(this.o.dataRoot, data);
    if (outside) return { source: null, error: outside };
    const { surveyData, writtenFrom } = await import('../executor/data/survey.ts');
    const root = resolve(this.o.dataRoot);
    try {
      const survey = await surveyData(resolve(root, data));
      return { source: starterScript(writtenFrom(survey, root), { name: basename(resolve(root, data)), model }), error: null };
    } catch (err) {
      // The server's own folders are not the client's business: paths as the client wrote them, from the data root.
      return { source: null, error: (err as Error).message.replaceAll(`${root}${sep}`, '').replaceAll(root, '.') };
    }
  }

  /**
   * Queues the scoring of the model a job exported (a job of kind `evaluate`, as `tl evaluate`
   * runs it) on labelled images under the data root: class folders, a csv manifest or an IDX file.
   * Refused for a job that is not there or exported no model, data outside the data root, `worst`
   * outside 0..100, a name too long, and a full queue.
   */
  async evaluate(input: { readonly job: string; readonly data: string; readonly worst?: number; readonly tta?: boolean; readonly name?: string | null }): Promise<JobAction> {
    const of = this.store.get(input.job);
    if (!of) return notFound(input.job);
    const refuse = (code: string, message: string): JobAction => ({ job: null, refusal: { code, message } });
    if (of.status !== 'SUCCEEDED' || of.exportPath === null) {
      const why = of.status !== 'SUCCEEDED' ? `it is ${of.status}` : of.task.kind !== 'train' ? 'it trained no model' : "its script has no 'export'";
      return refuse('no-model', `job '${of.id}' has no exported model to evaluate: ${why}; evaluate a succeeded training job whose script exports its model`);
    }
    const worst = input.worst ?? 5;
    if (!Number.isInteger(worst) || worst < 0 || worst > MAX_WORST) return refuse('bad-worst', `worst lists from 0 to ${MAX_WORST} mistakes, not ${worst}`);
    if (input.data.length > 4096) return refuse('path-outside-data-root', `the path is ${input.data.length} characters long; a data path is at most 4096`);
    const outside = await whyOutsideDataRoot(this.o.dataRoot, input.data, { format: dataFormat(input.data), label: 'evaluate' });
    if (outside) return refuse('path-outside-data-root', outside);
    const name = input.name ?? null;
    if (name !== null && name.length > this.limits.maxNameLength) return refuse('name-too-long', `the job name has ${name.length} characters; the limit is ${this.limits.maxNameLength}`);
    const full = this.queueFull();
    if (full) return { job: null, refusal: full };
    const task: JobTask = { kind: 'evaluate', of: of.id, data: input.data, worst, tta: input.tta ?? false };
    const job = this.store.insert({ id: randomUUID(), name, source: of.source, plan: of.plan, createdAt: new Date().toISOString(), task });
    this.bus.publish('job:updates', job);
    this.queue.add(job.id);
    return { job: this.store.require(job.id), refusal: null };
  }

  cancel(id: string): JobAction {
    const job = this.store.get(id);
    if (!job) return notFound(id);
    if (job.status === 'QUEUED') {
      this.queue.remove(id);
      this.scheduler.fail(id, job.attempts, { code: 'cancelled', message: 'cancelled before it started', cancelled: true });
      return { job: this.store.require(id), refusal: null };
    }
    if (job.status === 'RUNNING') {
      const updated = this.store.setCancelRequested(id);
      this.scheduler.cancel(id);
      return { job: updated, refusal: null };
    }
    return { job, refusal: { code: 'job-not-cancellable', message: `job '${id}' is already ${job.status}; only queued or running jobs can be cancelled` } };
  }

  /** Queues a failed or cancelled job again; its next run continues from its checkpoint when there is one. */
  resume(id: string): JobAction {
    const job = this.store.get(id);
    if (!job) return notFound(id);
    if (job.status !== 'FAILED' && job.status !== 'CANCELLED') {
      const why = job.status === 'SUCCEEDED' ? 'it already succeeded; submit the script again to train anew' : `it is ${job.status}`;
      return { job, refusal: { code: 'job-not-resumable', message: `job '${id}' cannot be resumed: ${why}; only failed or cancelled jobs can` } };
    }
    const full = this.queueFull();
    if (full) return { job, refusal: full };
    const queued = this.store.setStatus(id, 'QUEUED', { resume: true, finishedAt: null, error: null, cancelRequested: false });
    this.bus.publish('job:updates', queued);
    this.queue.add(id);
    return { job: this.store.require(id), refusal: null };
  }

  get(id: string): JobRecord | null {
    return this.store.get(id);
  }

  list(options: { status?: JobStatus | undefined; first: number; before?: number | undefined }): JobPage {
    return this.store.list(options);
  }

  count(status?: JobStatus): number {
    return this.store.count(status);
  }

  events(id: string, after: number, first: number): StoredEvent[] {
    return this.store.eventsAfter(id, after, first);
  }

  queuePosition(id: string): number | null {
    return this.queue.position(id);
  }

  /** Stored events after `after`, then live ones; a refusal past the per-job subscriber limit. */
  openEvents(jobId: string, after: number): JobEventStream | Refusal {
    if (!this.store.get(jobId)) return notFound(jobId).refusal!;
    const open = this.subscribers.get(jobId) ?? 0;
    if (open >= this.limits.maxSubscribersPerJob) return { code: 'too-many-subscribers', message: `job '${jobId}' already has ${open} subscribers, the limit; try again later` };
    this.subscribers.set(jobId, open + 1);
    return new JobEventStream({
      source: this.store, bus: this.bus, jobId, after,
      onClose: () => {
        const n = (this.subscribers.get(jobId) ?? 1) - 1;
        if (n > 0) this.subscribers.set(jobId, n);
        else this.subscribers.delete(jobId);
      },
    });
  }

  /** Open jobEvents streams on a job. */
  openSubscribers(jobId: string): number {
    return this.subscribers.get(jobId) ?? 0;
  }

  /** Every job each time its status changes. */
  openUpdates(): Channel<JobRecord> | Refusal {
    if (this.updateSubscribers >= this.limits.maxUpdateSubscribers) return { code: 'too-many-subscribers', message: `${this.updateSubscribers} clients already follow job updates, the limit; try again later` };
    this.updateSubscribers++;
    let off = () => {};
    const channel = new Channel<JobRecord>({
      onClose: () => {
        this.updateSubscribers--;
        off();
      },
    });
    off = this.bus.subscribe('job:updates', (job) => channel.push(job));
    return channel;
  }

  /** Which backends a worker can load; probed once, in a worker process of its own. */
  backends(): Promise<BackendReport & { readonly configured: BackendName }> {
    this.backendReport ??= this.runner.probe();
    return this.backendReport.then((r) => ({ ...r, configured: this.o.backend ?? 'auto' }));
  }

  stats(): { readonly queued: number; readonly running: number; readonly jobs: number } {
    return { queued: this.queue.size(), running: this.scheduler.runningCount(), jobs: this.store.count() };
  }

  /** Pauses running jobs (they resume on the next start), kills the workers, closes the database. */
  stop(options: { readonly graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.scheduler.stop(options.graceMs ?? 10_000).then(() => {
      this.db.close();
    });
    return this.stopping;
  }

  private queueFull(): Refusal | null {
    const waiting = this.queue.size();
    if (waiting < this.limits.maxQueuedJobs) return null;
    return { code: 'queue-full', message: `the queue is full (${waiting} jobs waiting, the limit); try again when some have run` };
  }
}

/** The most mistakes an evaluation lists. */
export const MAX_WORST = 100;

/** The most steps a learning-rate search may take (each is a training step). */
export const MAX_LR_FIND_STEPS = 1000;

function taskRefusal(task: JobTask, plan: Plan): Refusal | null {
  if (task.kind !== 'lrFind') return null;
  const names = plan.phases.map((p) => p.name);
  if (task.phase !== null && !names.includes(task.phase)) return { code: 'no-such-phase', message: `the script has no phase '${task.phase}'; its phases are ${names.map((n) => `'${n}'`).join(', ')}` };
  if (!Number.isInteger(task.steps) || task.steps < 2 || task.steps > MAX_LR_FIND_STEPS) return { code: 'bad-steps', message: `a learning-rate search takes from 2 to ${MAX_LR_FIND_STEPS} steps, not ${task.steps}` };
  return null;
}

function notFound(id: string): JobAction {
  return { job: null, refusal: { code: 'job-not-found', message: `there is no job '${id}'` } };
}
