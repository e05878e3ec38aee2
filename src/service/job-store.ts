/**
 * Jobs and their events in SQLite. Appending an event assigns the job's next `seq` and updates the
 * job's summary (phase, epoch, metrics, status) in one transaction, so the numbering survives any
 * crash: a stored event is never lost or renumbered, and the summary never disagrees with it.
 */
import type { ExecutorEvent } from '../executor/events.ts';
import type { Plan } from '../plan/schema.ts';
import type { Db } from './db.ts';
import { TRAIN, type JobError, type JobRecord, type JobStatus, type JobTask, type StoredEvent } from './types.ts';

interface JobRow {
  cursor: number;
  id: string;
  name: string | null;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  source: string;
  task: string | null;
  plan: string;
  attempts: number;
  resume: number;
  cancel_requested: number;
  phase: number | null;
  phase_name: string | null;
  epoch: number | null;
  metrics: string | null;
  result: string | null;
  lr_found: string | null;
  evaluation: string | null;
  export_path: string | null;
  error: string | null;
  last_seq: number;
}

interface EventRow {
  job_id: string;
  seq: number;
  attempt: number;
  data: string;
}

const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    cursor: r.cursor,
    name: r.name,
    status: r.status as JobStatus,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    source: r.source,
    task: parse<JobTask>(r.task) ?? TRAIN,
    plan: JSON.parse(r.plan) as Plan,
    attempts: r.attempts,
    resume: r.resume === 1,
    cancelRequested: r.cancel_requested === 1,
    phase: r.phase,
    phaseName: r.phase_name,
    epoch: r.epoch,
    metrics: parse(r.metrics),
    result: parse(r.result),
    lrFound: parse(r.lr_found),
    evaluation: parse(r.evaluation),
    exportPath: r.export_path,
    error: parse(r.error),
    lastSeq: r.last_seq,
  };
}

function toEvent(r: EventRow): StoredEvent {
  return { jobId: r.job_id, seq: r.seq, attempt: r.attempt, event: JSON.parse(r.data) as ExecutorEvent };
}

export interface NewJob {
  readonly id: string;
  readonly name: string | null;
  readonly source: string;
  readonly plan: Plan;
  readonly createdAt: string;
  /** Default: train. */
  readonly task?: JobTask;
}

/** Fields a status change may set alongside it. */
export interface StatusPatch {
  readonly startedAt?: string | null;
  readonly finishedAt?: string | null;
  readonly attempts?: number;
  readonly resume?: boolean;
  readonly cancelRequested?: boolean;
  readonly error?: JobError | null;
}

export interface JobPage {
  readonly jobs: readonly JobRecord[];
  readonly hasNextPage: boolean;
}

export class JobStore {
  private readonly stmt;

  constructor(private readonly db: Db) {
    this.stmt = {
      insert: db.prepare('INSERT INTO jobs (id, name, status, created_at, source, plan, task) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      get: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      progress: db.prepare<[string], { status: string; last_seq: number }>('SELECT status, last_seq FROM jobs WHERE id = ?'),
      byStatus: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE status = ? ORDER BY cursor'),
      nextSeq: db.prepare<[string], { last_seq: number }>('UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq'),
      insertEvent: db.prepare('INSERT INTO events (job_id, seq, attempt, type, at, data) VALUES (?, ?, ?, ?, ?, ?)'),
      eventsAfter: db.prepare<[string, number, number], EventRow>('SELECT job_id, seq, attempt, data FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM jobs'),
      countStatus: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM jobs WHERE status = ?'),
    };
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insert(job: NewJob): JobRecord {
    const task = job.task && job.task.kind !== 'train' ? JSON.stringify(job.task) : null;
    this.stmt.insert.run(job.id, job.name, 'QUEUED', job.createdAt, job.source, JSON.stringify(job.plan), task);
    return this.require(job.id);
  }

  get(id: string): JobRecord | null {
    const row = this.stmt.get.get(id);
    return row ? toJob(row) : null;
  }

  /** Just the status and the last seq: what event streams check, without parsing the whole job. */
  progress(id: string): { readonly status: JobStatus; readonly lastSeq: number } | null {
    const row = this.stmt.progress.get(id);
    return row ? { status: row.status as JobStatus, lastSeq: row.last_seq } : null;
  }

  require(id: string): JobRecord {
    const job = this.get(id);
    if (!job) throw new Error(`no job '${id}' in the store`);
    return job;
  }

  withStatus(status: JobStatus): JobRecord[] {
    return this.stmt.byStatus.all(status).map(toJob);
  }

  count(status?: JobStatus): number {
    return (status ? this.stmt.countStatus.get(status) : this.stmt.count.get())?.n ?? 0;
  }

  /** Newest first; `before` is a cursor: only jobs created before that one. */
  list(options: { status?: JobStatus | undefined; first: number; before?: number | undefined }): JobPage {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (options.status) {
      where.push('status = ?');
      params.push(options.status);
    }
    if (options.before !== undefined) {
      where.push('cursor < ?');
      params.push(options.before);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY cursor DESC LIMIT ?`;
    const rows = this.db.prepare<(string | number)[], JobRow>(sql).all(...params, options.first + 1);
    return { jobs: rows.slice(0, options.first).map(toJob), hasNextPage: rows.length > options.first };
  }

  setStatus(id: string, status: JobStatus, patch: StatusPatch = {}): JobRecord {
    const sets = ['status = ?'];
    const params: (string | number | null)[] = [status];
    const add = (column: string, value: string | number | null) => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.startedAt !== undefined) add('started_at', patch.startedAt);
    if (patch.finishedAt !== undefined) add('finished_at', patch.finishedAt);
    if (patch.attempts !== undefined) add('attempts', patch.attempts);
    if (patch.resume !== undefined) add('resume', patch.resume ? 1 : 0);
    if (patch.cancelRequested !== undefined) add('cancel_requested', patch.cancelRequested ? 1 : 0);
    if (patch.error !== undefined) add('error', patch.error === null ? null : JSON.stringify(patch.error));
    this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ?`).run(...params, id);
    return this.require(id);
  }

  setCancelRequested(id: string): JobRecord {
    this.db.prepare('UPDATE jobs SET cancel_requested = 1 WHERE id = ?').run(id);
    return this.require(id);
  }

  /**
   * Stores an event as the job's next seq and folds it into the job's summary. Events are stored
   * as JSON, so a NaN loss becomes null here, the same for live subscribers and for replays.
   */
  append(jobId: string, attempt: number, event: ExecutorEvent): StoredEvent {
    return this.transaction(() => {
      const next = this.stmt.nextSeq.get(jobId);
      if (!next) throw new Error(`no job '${jobId}' in the store`);
      const data = JSON.stringify(event);
      this.stmt.insertEvent.run(jobId, next.last_seq, attempt, event.type, event.at, data);
      this.summarize(jobId, event);
      return { jobId, seq: next.last_seq, attempt, event: JSON.parse(data) as ExecutorEvent };
    });
  }

  /** Up to `limit` events with seq > after, in order. */
  eventsAfter(jobId: string, after: number, limit: number): StoredEvent[] {
    return this.stmt.eventsAfter.all(jobId, after, limit).map(toEvent);
  }

  private summarize(jobId: string, e: ExecutorEvent): void {
    const run = (sql: string, ...params: (string | number | null)[]) => this.db.prepare(sql).run(...params, jobId);
    switch (e.type) {
      case 'phaseStarted':
        run('UPDATE jobs SET phase = ?, phase_name = ?, epoch = NULL WHERE id = ?', e.phase, e.name);
        break;
      case 'epochEnded':
        run('UPDATE jobs SET phase = ?, epoch = ?, metrics = ? WHERE id = ?', e.phase, e.epoch, JSON.stringify(e.metrics));
        break;
      case 'jobFinished':
        run("UPDATE jobs SET status = 'SUCCEEDED', finished_at = ?, result = ?, export_path = ?, error = NULL WHERE id = ?", e.at, JSON.stringify(e.metrics), e.exportPath);
        break;
      case 'lrFound':
        run("UPDATE jobs SET status = 'SUCCEEDED', finished_at = ?, lr_found = ?, error = NULL WHERE id = ?", e.at, JSON.stringify(e.result));
        break;
      case 'evaluated':
        run("UPDATE jobs SET status = 'SUCCEEDED', finished_at = ?, evaluation = ?, error = NULL WHERE id = ?", e.at, JSON.stringify(e.evaluation));
        break;
      case 'jobFailed': {
        const error: JobError = { code: e.code, message: e.message, origin: e.origin };
        run('UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ?', e.cancelled ? 'CANCELLED' : 'FAILED', e.at, JSON.stringify(error));
        break;
      }
      default:
        break;
    }
  }
}
