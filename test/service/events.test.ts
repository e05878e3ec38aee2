/**
 * Real training jobs (the tiny model on a few real images, in worker processes) behind a real
 * server: event order, replay and reconnecting with `after`, 50 concurrent subscribers, SSE,
 * job updates, cancel, resume from a checkpoint, and the queue limit.
 */
import { join } from 'node:path';
import { createClient as createSseClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_FIELDS, followJob, gql, JOB_EVENTS, range, seqs, startStack, submitJob, SUBMIT, tinyScript, wsClient, type EventRow, type Stack } from './helpers.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ service: { limits: { maxQueuedJobs: 3, maxSubscribersPerJob: 55 } } });
});
afterAll(async () => {
  await stack?.close();
});

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(ok()).toBe(true);
}

const JOB = `query($id: ID!) { job(id: $id) { status attempts lastSeq cancelRequested queuePosition epoch result { accuracy classes } exportPath error { code } events(first: 1000) { ${EVENT_FIELDS} } } }`;
const job = async (id: string) => (await gql(stack.url, JOB, { id })).body.data.job;

describe('job events', () => {
  it('reach 50 websocket subscribers and an SSE one, each complete and in seq order, and replay after the fact', async () => {
    const watcher = wsClient(stack.wsUrl);
    const updates: { id: string; status: string }[] = [];
    const stopUpdates = watcher.subscribe<{ jobUpdates: { id: string; status: string } }>({ query: 'subscription { jobUpdates { id status } }' }, { next: (r) => updates.push(r.data!.jobUpdates), error: () => {}, complete: () => {} });
    await new Promise((r) => setTimeout(r, 200));

    // Adapted (to its own images, unlabelled): what the job adapts to is reported when it starts.
    const id = await submitJob(stack.url, tinyScript(6, 'adapt coral target "imgs"\nexport "model"\nlr block5 2e-4\nclip norm 1e-3\n'));
    const clients = Array.from({ length: 50 }, () => wsClient(stack.wsUrl));
    const sse = createSseClient({ url: stack.url, retryAttempts: 0 });
    const viaSse = new Promise<EventRow[]>((resolve, reject) => {
      const got: EventRow[] = [];
      sse.subscribe<{ jobEvents: EventRow }>({ query: JOB_EVENTS, variables: { jobId: id, after: 0 } }, { next: (r) => got.push(r.data!.jobEvents), error: reject, complete: () => resolve(got) });
    });
    // One subscriber leaves after 4 events and comes back with `after`, on a new connection.
    const reconnecting = (async () => {
      const first = wsClient(stack.wsUrl);
      const part1 = await followJob(first, id, { stopWhen: (_e, all) => all.length === 4 });
      await first.dispose();
      const second = wsClient(stack.wsUrl);
      const part2 = await followJob(second, id, { after: part1.at(-1)!.seq });
      await second.dispose();
      return { part1, part2 };
    })();
    const all = await Promise.all(clients.map((c) => followJob(c, id)));
    const full = all[0]!;
    const n = full.length;

    expect(seqs(full)).toEqual(range(1, n));
    expect(full[0]!.type).toBe('jobStarted');
    expect(full.at(-1)!.type).toBe('jobFinished');
    expect(full.filter((e) => e.type === 'epochEnded').map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(full.every((e) => e.attempt === 1 && e.type === e.data.type)).toBe(true);
    // The service's jobs run on wasm here, which neither records and replays steps nor measures GEMM tiles: the phase's reports of both are null.
    const phaseEnded = full.find((e) => e.type === 'phaseEnded')!;
    const PHASE_ENDED = 'query($id: ID!, $after: Int) { job(id: $id) { events(after: $after, first: 1) { type ... on PhaseEndedEvent { epochsRun replay { steps replayed note } tiles { products measured cached seconds } } } } }';
    const { body } = await gql(stack.url, PHASE_ENDED, { id, after: phaseEnded.seq - 1 });
    expect(body.data.job.events).toEqual([{ type: 'phaseEnded', epochsRun: 6, replay: null, tiles: null }]);
    // A block with a rate of its own: the phase says so.
    const PHASE_STARTED = 'query($id: ID!) { job(id: $id) { events(after: 1, first: 1) { type ... on PhaseStartedEvent { lr unitRates { unit lr } optimizer schedule clip } } } }';
    expect((await gql(stack.url, PHASE_STARTED, { id })).body.data.job.events).toEqual([{ type: 'phaseStarted', lr: 0.001, unitRates: [{ unit: 'block5', lr: 0.0002 }], optimizer: 'adam', schedule: '', clip: 'clip norm 0.001' }]);
    // Clipped by a norm far below the gradients': every step clipped, and the norm said.
    const epochEnded = full.find((e) => e.type === 'epochEnded')!;
    const EPOCH = 'query($id: ID!, $after: Int) { job(id: $id) { events(after: $after, first: 1) { ... on EpochEndedEvent { metrics { gradNorm clipped } } } } }';
    const [{ metrics }] = (await gql(stack.url, EPOCH, { id, after: epochEnded.seq - 1 })).body.data.job.events;
    expect(metrics.gradNorm).toBeGreaterThan(1e-3);
    expect(metrics.clipped).toBe(1);
    const STARTED = 'query($id: ID!) { job(id: $id) { events(first: 1) { type ... on JobStartedEvent { trainImages adaptation { method target targetImages } } } } }';
    expect((await gql(stack.url, STARTED, { id })).body.data.job.events).toEqual([{ type: 'jobStarted', trainImages: 12, adaptation: { method: 'coral', target: join(stack.dataRoot, 'imgs'), targetImages: 18 } }]);
    expect(full.filter((e) => e.type === 'epochEnded').every((e) => Number.isFinite((e.data.metrics as { adaptLoss: number }).adaptLoss))).toBe(true);
    for (const events of all) expect(events).toEqual(full);
    expect(await viaSse).toEqual(full);
    const { part1, part2 } = await reconnecting;
    expect(part1).toHaveLength(4);
    expect([...part1, ...part2]).toEqual(full);

    // After the fact: the same events from the store, from any point.
    const replayClient = wsClient(stack.wsUrl);
    expect(await followJob(replayClient, id)).toEqual(full);
    expect(await followJob(replayClient, id, { after: 5 })).toEqual(full.slice(5));
    expect(await followJob(replayClient, id, { after: n })).toEqual([]);
    await replayClient.dispose();

    const done = await job(id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastSeq: n, epoch: 6, result: { classes: ['bag', 'boot', 'coat'] }, error: null });
    expect(done.exportPath).toBe(`${stack.dir}/runs/${id}/export/model`);
    expect(done.events).toEqual(full);
    expect(updates.filter((u) => u.id === id).map((u) => u.status)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);

    stopUpdates();
    sse.dispose();
    await Promise.all([...clients, watcher].map((c) => c.dispose()));
  }, 180_000);

  it('cancels queued and running jobs, resumes from the checkpoint with the numbering intact, and refuses a full queue', async () => {
    const long = await submitJob(stack.url, tinyScript(400));
    // The previous job's worker may still be exiting; its slot frees when it has.
    await until(() => stack.service.get(long)?.status === 'RUNNING');
    const queued = [await submitJob(stack.url, tinyScript(1)), await submitJob(stack.url, tinyScript(1)), await submitJob(stack.url, tinyScript(1))];
    const full = await gql(stack.url, SUBMIT, { source: tinyScript(1) });
    expect(full.body.data.submitJob).toEqual({ job: null, diagnostics: [{ code: 'queue-full', severity: 'ERROR', message: 'the queue is full (3 jobs waiting, the limit); try again when some have run', line: null, column: null }] });

    // Cursor pagination over the queued ones, newest first.
    const page = 'query($after: String) { jobs(status: QUEUED, first: 2, after: $after) { totalCount edges { node { id queuePosition } } pageInfo { hasNextPage endCursor } } }';
    const p1 = (await gql(stack.url, page)).body.data.jobs;
    expect(p1.totalCount).toBe(3);
    expect(p1.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([queued[2], queued[1]]);
    expect(p1.edges.map((e: { node: { queuePosition: number } }) => e.node.queuePosition)).toEqual([3, 2]);
    const p2 = (await gql(stack.url, page, { after: p1.pageInfo.endCursor })).body.data.jobs;
    expect(p2.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([queued[0]]);
    expect(p2.pageInfo.hasNextPage).toBe(false);

    // A queued job is cancelled at once, with the executor's own jobFailed event.
    const cancel = 'mutation($id: ID!) { cancelJob(id: $id) { job { status cancelRequested } diagnostics { code message } } }';
    for (const q of queued) expect((await gql(stack.url, cancel, { id: q })).body.data.cancelJob).toEqual({ job: { status: 'CANCELLED', cancelRequested: false }, diagnostics: [] });
    expect((await job(queued[0]!)).events).toEqual([expect.objectContaining({ seq: 1, type: 'jobFailed', attempt: 0, code: 'cancelled', cancelled: true })]);

    // At most 55 subscribers on one job (multiplexed on one socket here); the next is refused, and
    // leaving frees the places.
    const crowd = wsClient(stack.wsUrl);
    const unsubscribe = Array.from({ length: 55 }, () => crowd.subscribe({ query: JOB_EVENTS, variables: { jobId: long } }, { next: () => {}, error: () => {}, complete: () => {} }));
    await until(() => stack.service.openSubscribers(long) === 55);
    const refusal = await new Promise<unknown>((resolve) => crowd.subscribe({ query: JOB_EVENTS, variables: { jobId: long } }, { next: resolve, error: resolve, complete: () => {} }));
    expect(refusal).toMatchObject({ errors: [{ message: `job '${long}' already has 55 subscribers, the limit; try again later`, extensions: { code: 'too-many-subscribers' } }] });
    for (const stop of unsubscribe) stop();
    await until(() => stack.service.openSubscribers(long) === 0);
    await crowd.dispose();

    // A running one stops after its batch, saving a checkpoint first.
    const client = wsClient(stack.wsUrl);
    const before = await followJob(client, long, { stopWhen: (e) => e.type === 'checkpointSaved' && (e.epoch ?? 0) >= 2 });
    expect((await gql(stack.url, cancel, { id: long })).body.data.cancelJob).toEqual({ job: { status: 'RUNNING', cancelRequested: true }, diagnostics: [] });
    const rest = await followJob(client, long, { after: before.at(-1)!.seq });
    const stop = rest.at(-2)!;
    expect(stop).toMatchObject({ type: 'checkpointSaved', reason: 'cancel' });
    expect(rest.at(-1)).toMatchObject({ type: 'jobFailed', code: 'cancelled', cancelled: true });
    expect((await job(long)).status).toBe('CANCELLED');
    expect((await gql(stack.url, cancel, { id: long })).body.data.cancelJob.diagnostics).toEqual([{ code: 'job-not-cancellable', message: `job '${long}' is already CANCELLED; only queued or running jobs can be cancelled` }]);

    // Resumed: attempt 2 continues right after the checkpoint, its events numbered after attempt 1's.
    const resume = 'mutation($id: ID!) { resumeJob(id: $id) { job { status } diagnostics { code } } }';
    // The answer is the job as it is once queued: still QUEUED, or already RUNNING when a worker
    // was free and took it before the answer was read (which one depends on the previous worker's exit).
    const resumedJob = (await gql(stack.url, resume, { id: long })).body.data.resumeJob;
    expect(resumedJob.diagnostics).toEqual([]);
    expect(['QUEUED', 'RUNNING']).toContain(resumedJob.job.status);
    const resumed = await followJob(client, long, { after: rest.at(-1)!.seq, stopWhen: (e) => e.type === 'epochEnded' });
    expect(resumed[0]).toMatchObject({ type: 'jobStarted', attempt: 2 });
    expect(resumed.at(-1)!.epoch).toBe(stop.epoch! + 1);
    await gql(stack.url, cancel, { id: long });
    const tail = await followJob(client, long, { after: resumed.at(-1)!.seq });
    const history = (await job(long)).events as EventRow[];
    expect(history).toEqual([...before, ...rest, ...resumed, ...tail]);
    expect(seqs(history)).toEqual(range(1, history.length));
    expect(new Set(history.map((e) => e.attempt))).toEqual(new Set([1, 2]));
    await client.dispose();

    expect((await gql(stack.url, resume, { id: 'nope' })).body.data.resumeJob.diagnostics).toEqual([{ code: 'job-not-found' }]);
    const succeeded = (await gql(stack.url, '{ jobs(status: SUCCEEDED) { edges { node { id } } } }')).body.data.jobs.edges[0].node.id;
    expect((await gql(stack.url, resume, { id: succeeded })).body.data.resumeJob.diagnostics).toEqual([{ code: 'job-not-resumable' }]);
  }, 180_000);
});
