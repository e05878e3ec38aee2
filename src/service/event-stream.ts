/**
 * A job's events for one subscriber: every stored event after `after`, then live ones, with no gap
 * and no duplicate.
 *
 * It subscribes to the bus before its first read of the store, so an event stored while it reads
 * is in its live buffer too; it then delivers strictly by seq: an event at or below the last seq
 * delivered is a duplicate and skipped, one above the next is a gap and filled from the store. The
 * store holds every event, so the live buffer is only a shortcut: a subscriber that falls far
 * behind drops its buffer and reads from the store again instead of holding unbounded memory.
 *
 * Written as an explicit iterator, not an async generator, so `return()` (a client unsubscribing)
 * takes effect at once even while it waits for the next event.
 */
import type { EventBus } from './event-bus.ts';
import { isTerminal, isTerminalEvent, type JobStatus, type StoredEvent } from './types.ts';

/** The part of the store a stream reads. */
export interface EventSource {
  eventsAfter(jobId: string, after: number, limit: number): StoredEvent[];
  progress(jobId: string): { readonly status: JobStatus; readonly lastSeq: number } | null;
}

export interface EventStreamOptions {
  readonly source: EventSource;
  readonly bus: EventBus;
  readonly jobId: string;
  /** Deliver events with seq > after. */
  readonly after: number;
  /** Events read from the store at a time. */
  readonly pageSize?: number;
  /** Live events held before falling back to the store. */
  readonly maxBuffered?: number;
  /** Called once when the stream ends, however it ends. */
  readonly onClose?: () => void;
}

export class JobEventStream implements AsyncIterableIterator<StoredEvent> {
  private last: number;
  private page: StoredEvent[] = [];
  private live: StoredEvent[] = [];
  /** The store may hold events not yet delivered. */
  private behind = true;
  private finishing = false;
  /** Whether the job was already over when the stream first caught up; later, only a terminal event can end it. */
  private caughtUp = false;
  private closed = false;
  private wake: (() => void) | null = null;
  private readonly unsubscribe: () => void;
  private readonly pageSize: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: EventStreamOptions) {
    this.last = options.after;
    this.pageSize = options.pageSize ?? 500;
    this.maxBuffered = options.maxBuffered ?? 5000;
    this.unsubscribe = options.bus.subscribe('job:events', options.jobId, (e) => this.onLive(e));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<StoredEvent, undefined>> {
    while (!this.closed) {
      if (this.finishing) break;
      const e = this.take();
      if (e) {
        this.last = e.seq;
        if (isTerminalEvent(e.event) && this.jobOver()) this.finishing = true;
        return { value: e, done: false };
      }
      if (!this.caughtUp) {
        this.caughtUp = true;
        if (this.jobOver()) break;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    this.close();
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<StoredEvent, undefined>> {
    this.close();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<StoredEvent, undefined>> {
    this.close();
    throw err;
  }

  private onLive(e: StoredEvent): void {
    if (this.closed) return;
    if (this.live.length >= this.maxBuffered) {
      this.live = [];
      this.behind = true;
    } else this.live.push(e);
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** The next event in seq order, or null when there is none yet. */
  private take(): StoredEvent | null {
    for (;;) {
      const fromPage = this.page.shift();
      if (fromPage) {
        if (fromPage.seq > this.last) return fromPage;
        continue;
      }
      if (this.behind) {
        this.page = this.options.source.eventsAfter(this.options.jobId, this.last, this.pageSize);
        this.behind = this.page.length === this.pageSize;
        if (this.page.length) continue;
      }
      const e = this.live.shift();
      if (!e) return null;
      if (e.seq <= this.last) continue;
      if (e.seq === this.last + 1) return e;
      // A gap: something published before we subscribed, or a dropped buffer. The store has it.
      const missing = this.options.source.eventsAfter(this.options.jobId, this.last, this.pageSize);
      if (missing.length === 0) return e;
      this.page = missing;
      this.behind = missing.length === this.pageSize;
      this.live.unshift(e);
    }
  }

  /**
   * Over: the job is finished, failed or cancelled, and we have delivered its last event. Asked once
   * when the stream first catches up and after each terminal event, not per event: every way a job
   * ends stores a terminal event, and 200 subscribers each asking per event would cost 200 reads.
   */
  private jobOver(): boolean {
    const job = this.options.source.progress(this.options.jobId);
    return job === null || (isTerminal(job.status) && job.lastSeq <= this.last);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.live = [];
    this.page = [];
    const wake = this.wake;
    this.wake = null;
    wake?.();
    this.options.onClose?.();
  }
}
