/**
 * The store, the queue, recovery and the event stream against a real SQLite file (no server, no
 * training): numbering that survives reopening, FIFO order that survives reopening, and a stream
 * that replays then follows live appends with no gap and no duplicate.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import type { ExecutorEvent } from '../../src/executor/events.ts';
import { openDatabase } from '../../src/service/db.ts';
import { InProcessEventBus } from '../../src/service/event-bus.ts';
import { JobEventStream } from '../../src/service/event-stream.ts';
import { JobStore } from '../../src/service/job-store.ts';
import { recover } from '../../src/service/recover.ts';
import { SqliteJobQueue } from '../../src/service/sqlite-queue.ts';
import type { StoredEvent } from '../../src/service/types.ts';

const plan = compile('use tiny\ndata "imgs"\nepochs 1').plan!;
const progress = (batch: number): ExecutorEvent => ({ type: 'batchProgress', at: new Date().toISOString(), phase: 0, epoch: 1, batch, batches: 100, loss: 1 / batch, lr: 0.001 });
const finished: ExecutorEvent = {
  type: 'jobFinished', at: new Date().toISOString(), exportPath: null, seconds: 1,
  metrics: { loss: 0.5, accuracy: 0.9, valLoss: null, valAccuracy: null, valTop5: null, testAccuracy: null, testTop5: null, perClass: [], confusion: [], classes: ['a'] },
};

function open(file: string) {
  const db = openDatabase(file);
  return { db, store: new JobStore(db), queue: new SqliteJobQueue(db) };
}

function newJob(store: JobStore, id: string) {
  return store.insert({ id, name: null, source: 'use tiny', plan, createdAt: new Date().toISOString() });
}

describe('JobStore and SqliteJobQueue on a real SQLite file', () => {
  it('numbers events 1, 2, 3... per job, keeps the numbering across reopening, and folds them into the job', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tl-store-')), 'tl.db');
    let { db, store } = open(file);
    newJob(store, 'a');
    newJob(store, 'b');
    expect([store.append('a', 1, progress(1)).seq, store.append('a', 1, progress(2)).seq, store.append('b', 1, progress(1)).seq]).toEqual([1, 2, 1]);
    // One server per database: a second opener is refused while the first holds it.
    expect(() => openDatabase(file)).toThrow(/is in use by another process/);
    db.close();
    ({ db, store } = open(file));
    expect(store.append('a', 2, finished).seq).toBe(3);
    expect(store.eventsAfter('a', 0, 10).map((e) => [e.seq, e.attempt, e.event.type])).toEqual([[1, 1, 'batchProgress'], [2, 1, 'batchProgress'], [3, 2, 'jobFinished']]);
    expect(store.eventsAfter('a', 1, 1).map((e) => e.seq)).toEqual([2]);
    const a = store.require('a');
    expect(a).toMatchObject({ status: 'SUCCEEDED', lastSeq: 3, result: { accuracy: 0.9 } });
    expect(store.require('b').status).toBe('QUEUED');
    db.close();
  });

  it("keeps a search's and an evaluation's task and what they found; a database from before searches opens with its jobs training", () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tl-store-')), 'tl.db');
    let { db, store } = open(file);
    newJob(store, 'old');
    // As the first schema left it: no task, no lr_found, no evaluation.
    db.exec('ALTER TABLE jobs DROP COLUMN task; ALTER TABLE jobs DROP COLUMN lr_found; ALTER TABLE jobs DROP COLUMN evaluation; PRAGMA user_version = 1;');
    db.close();
    ({ db, store } = open(file));
    expect(store.require('old')).toMatchObject({ task: { kind: 'train' }, lrFound: null, evaluation: null });
    const task = { kind: 'lrFind', phase: 'ft', fromStart: false, steps: 50 } as const;
    store.insert({ id: 'search', name: null, source: 'use tiny', plan, createdAt: new Date().toISOString(), task });
    const result = { phase: 'ft', backend: 'wasm', backendReason: 'here', batch: 4, after: ['warmup'], points: [{ lr: 1e-7, loss: 2, smoothed: 2 }], diverged: false, steepest: null, tenthOfMinimum: 1e-8 };
    store.append('search', 1, { type: 'lrFound', at: new Date().toISOString(), result });
    db.close();
    ({ db, store } = open(file));
    expect(store.require('search')).toMatchObject({ task, status: 'SUCCEEDED', lrFound: result, result: null });
    // An evaluation: its task, and what it measured.
    const evaluate = { kind: 'evaluate', of: 'old', data: 'test', worst: 5, tta: false } as const;
    store.insert({ id: 'scored', name: null, source: 'use tiny', plan, createdAt: new Date().toISOString(), task: evaluate });
    const evaluation = { images: 2, classes: ['a', 'b'], loss: 0.5, accuracy: 0.5, top5: null, perClass: [], confusion: [[1, 0], [1, 0]], confused: [{ truth: 'b', predicted: 'a', count: 1 }], mistakes: [] };
    store.append('scored', 1, { type: 'evaluated', at: new Date().toISOString(), backend: 'wasm', evaluation });
    db.close();
    ({ db, store } = open(file));
    expect(store.require('scored')).toMatchObject({ task: evaluate, status: 'SUCCEEDED', evaluation, lrFound: null });
    db.close();
  });

  it('makes the database folder, and refuses a file that is not a database with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tl-store-'));
    openDatabase(join(dir, 'new', 'folder', 'tl.db')).close();
    writeFileSync(join(dir, 'notes.txt'), 'not a database, but long enough to read a header from it');
    expect(() => openDatabase(join(dir, 'notes.txt'))).toThrow(`${join(dir, 'notes.txt')} exists but is not an SQLite database`);
  });

  it('hands out jobs first in, first out, puts recovered ones in front, and keeps the order across reopening', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tl-queue-')), 'tl.db');
    let { db, store, queue } = open(file);
    for (const id of ['j1', 'j2', 'j3']) {
      newJob(store, id);
      queue.add(id);
    }
    newJob(store, 'urgent');
    queue.add('urgent', { front: true });
    expect([queue.position('urgent'), queue.position('j1'), queue.position('j3'), queue.size()]).toEqual([1, 2, 4, 4]);
    expect(queue.remove('j2')).toBe(true);
    expect(queue.remove('j2')).toBe(false);
    db.close();
    ({ db, store, queue } = open(file));
    const order: string[] = [];
    const releases: (() => void)[] = [];
    queue.process((id) => {
      order.push(id);
      return new Promise<void>((resolve) => releases.push(resolve));
    }, { concurrency: 1 });
    expect(order).toEqual(['urgent']);
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['urgent', 'j1']);
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['urgent', 'j1', 'j3']);
    queue.close();
    db.close();
  });

  it('recovers after a crash: running jobs go to the front to resume, lost queued jobs are queued again, events untouched', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tl-recover-')), 'tl.db');
    const { db, store, queue } = open(file);
    for (const id of ['old', 'running', 'lost']) newJob(store, id);
    queue.add('old');
    store.setStatus('running', 'RUNNING', { attempts: 1 });
    store.append('running', 1, progress(1));
    // 'lost' is QUEUED in the store but not in the queue: killed between the take and the status change.
    const r = recover({ store, queue, bus: new InProcessEventBus(), maxAttempts: 5, fail: () => expect.fail('nothing should fail') });
    expect(r).toEqual({ resumed: ['running'], requeued: ['lost'], failed: [] });
    expect(store.require('running')).toMatchObject({ status: 'QUEUED', resume: true, lastSeq: 1 });
    expect([queue.position('running'), queue.position('old'), queue.position('lost')]).toEqual([1, 2, 3]);
    db.close();
  });
});

describe('JobEventStream', () => {
  function setup() {
    const { db, store } = open(join(mkdtempSync(join(tmpdir(), 'tl-stream-')), 'tl.db'));
    const bus = new InProcessEventBus();
    newJob(store, 'j');
    store.setStatus('j', 'RUNNING');
    const append = (e: ExecutorEvent) => bus.publish('job:events', 'j', store.append('j', 1, e));
    return { db, store, bus, append };
  }

  it('replays stored events after N, then live ones, with no gap and no duplicate, and ends after the last', async () => {
    const { db, store, bus, append } = setup();
    for (let i = 1; i <= 7; i++) append(progress(i));
    let closed = 0;
    const stream = new JobEventStream({ source: store, bus, jobId: 'j', after: 2, pageSize: 2, onClose: () => closed++ });
    const got: StoredEvent[] = [];
    const reading = (async () => {
      for await (const e of stream) {
        got.push(e);
        // Appends while the stream is still replaying from the store: they reach it live and stored.
        if (e.seq === 4) for (let i = 8; i <= 10; i++) append(progress(i));
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    append(progress(11));
    append(finished);
    await reading;
    expect(got.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(got.at(-1)!.event.type).toBe('jobFinished');
    expect(closed).toBe(1);
    expect(bus.count('job:events', 'j')).toBe(0);
    db.close();
  });

  it('falls back to the store when a subscriber falls far behind, still with every event once', async () => {
    const { db, store, bus, append } = setup();
    append(progress(1));
    const stream = new JobEventStream({ source: store, bus, jobId: 'j', after: 0, maxBuffered: 5 });
    expect((await stream.next()).value?.seq).toBe(1);
    // 51 events arrive while the subscriber reads nothing: its 5-event buffer overflows.
    for (let i = 2; i <= 51; i++) append(progress(i));
    append(finished);
    const got = [];
    for await (const e of stream) got.push(e.seq);
    expect(got).toEqual(Array.from({ length: 51 }, (_, i) => i + 2));
    db.close();
  });

  it('ends at once when the subscriber leaves while it waits, releasing its bus subscription', async () => {
    const { db, store, bus } = setup();
    const stream = new JobEventStream({ source: store, bus, jobId: 'j', after: 0 });
    const pending = stream.next();
    expect(bus.count('job:events', 'j')).toBe(1);
    await stream.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(bus.count('job:events', 'j')).toBe(0);
    db.close();
  });
});
