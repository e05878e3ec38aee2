/**
 * Learning-rate searches as jobs (findLearningRate): a real search in a worker process behind a
 * real server, its steps streamed over a websocket as it takes them, what it found on the job,
 * refusals of a phase the script lacks or of too many steps, and a cancel in the middle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gql, root, startStack, tinyScript, TL_CLI, wsClient, type Stack } from './helpers.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

const FIND = `mutation($source: String!, $phase: String, $steps: Int, $fromStart: Boolean) {
  findLearningRate(input: { source: $source, phase: $phase, steps: $steps, fromStart: $fromStart }) { job { id kind status } diagnostics { code message } }
}`;
const POINT_FIELDS = '... on LrPointEvent { phase name step steps lr loss smoothed } ... on LrFoundEvent { result { phase after steepest suggested points { lr } } }';
const EVENTS = `subscription($jobId: ID!) { jobEvents(jobId: $jobId) { seq type ${POINT_FIELDS} ... on JobFailedEvent { code cancelled } } }`;
const JOB = 'query($id: ID!) { job(id: $id) { kind status result { accuracy } error { code } lrFound { phase after batch backend diverged steepest tenthOfMinimum suggested points { lr loss smoothed } } } }';

/** Two phases: the head for an epoch, then everything. */
const SCRIPT = tinyScript(1, 'phase ft unfreeze all lr 1e-4 epochs 1\n');

type Row = { seq: number; type: string; [k: string]: unknown };

async function follow(id: string, stopWhen?: (e: Row) => boolean): Promise<Row[]> {
  const client = wsClient(stack.wsUrl);
  const rows: Row[] = [];
  try {
    for await (const r of client.iterate<{ jobEvents: Row }>({ query: EVENTS, variables: { jobId: id } })) {
      if (r.errors?.length) throw new Error(r.errors.map((e) => e.message).join('; '));
      rows.push(r.data!.jobEvents);
      if (stopWhen?.(r.data!.jobEvents)) break;
    }
  } finally {
    await client.dispose();
  }
  return rows;
}

describe('findLearningRate', () => {
  it("trains the phases before, streams each step's rate and loss, and ends with what it found", async () => {
    const r = await gql(stack.url, FIND, { source: SCRIPT, phase: 'ft', steps: 12 });
    expect(r.body.data.findLearningRate.diagnostics).toEqual([]);
    const { id, kind, status } = r.body.data.findLearningRate.job;
    expect(kind).toBe('LR_FIND');
    expect(['QUEUED', 'RUNNING']).toContain(status);
    const events = await follow(id);
    const types = events.map((e) => e.type);
    // The head's epoch first, as a run trains it; its ending and its checkpoints are the search's business.
    expect(types.slice(0, 2)).toEqual(['jobStarted', 'phaseStarted']);
    expect(types).toContain('epochEnded');
    expect(types).not.toContain('jobFinished');
    expect(types).not.toContain('checkpointSaved');
    const points = events.filter((e) => e.type === 'lrPoint');
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(points.every((p) => p.phase === 1 && p.name === 'ft' && p.steps === 12 && Number.isFinite(p.loss))).toBe(true);
    const lrs = points.map((p) => p.lr as number);
    expect(lrs[0]).toBeCloseTo(1e-7, 12);
    expect(lrs.every((lr, i) => i === 0 || lr > lrs[i - 1]!)).toBe(true);
    expect(events.at(-1)!.type).toBe('lrFound');
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));

    const job = (await gql(stack.url, JOB, { id })).body.data.job;
    expect(job).toMatchObject({ kind: 'LR_FIND', status: 'SUCCEEDED', result: null, error: null });
    expect(job.lrFound).toMatchObject({ phase: 'ft', after: ['warmup'], batch: 4, backend: 'wasm' });
    expect(job.lrFound.points.map((p: { lr: number }) => p.lr)).toEqual(lrs);
    expect(job.lrFound.suggested).toBe(job.lrFound.steepest ?? job.lrFound.tenthOfMinimum);
    const found = events.at(-1)!.result as { suggested: number | null; points: unknown[] };
    expect(found.suggested).toBe(job.lrFound.suggested);
    expect(found.points).toHaveLength(12);

    // `tl follow` shows a search as `tl lr-find` does: the head's epoch, then the table and the suggestion.
    const followed = await new Promise<{ status: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [...TL_CLI, 'follow', id, '--server', stack.url], { cwd: root }, (err, stdout) => resolve({ status: err ? (err.code as number) : 0, stdout }));
    });
    expect(followed.status).toBe(0);
    expect(followed.stdout).toContain("phase 1 'warmup': 1 epoch");
    expect(followed.stdout).toContain("phase 'ft' from the weights 'warmup' left: 12 steps of 4 images, lr 1e-7 to 1");
    const suggested = job.lrFound.suggested as number | null;
    if (suggested !== null) expect(followed.stdout).toMatch(/suggested: lr \S+ in phase 'ft'\n$/);
  }, 120_000);

  it('tl lr-find --server searches there and prints what tl lr-find prints here', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tl-lr-cli-')), 'two-phase.tl');
    writeFileSync(file, SCRIPT);
    const cli = (...args: string[]) => new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [...TL_CLI, 'lr-find', file, '--server', stack.url, ...args], { cwd: root }, (err, stdout, stderr) => resolve({ status: err ? (err.code as number) : 0, stdout, stderr }));
    });
    const found = await cli('--phase', 'ft', '--steps', '8', '--write');
    expect(found.stderr).toMatch(/^submitted learning-rate search [0-9a-f-]+ \((queued|running)\)\n/);
    expect(found.status).toBe(0);
    expect(found.stdout).toContain("phase 'ft' from the weights 'warmup' left: 8 steps of 4 images, lr 1e-7 to 1");
    // --write: the server's suggestion written into the file as the phase's rate.
    const suggested = /suggested: lr (\S+) in phase 'ft'/.exec(found.stdout)![1];
    expect(found.stderr).toContain(`wrote lr ${suggested} into phase 'ft' of ${file}\n`);
    expect(readFileSync(file, 'utf8')).toBe(SCRIPT.replace('phase ft unfreeze all lr 1e-4', `phase ft unfreeze all lr ${suggested}`));
    // What the server decides is not the client's to say.
    const refused = await cli('--from', '1e-5');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('--from: a search on a server runs on its backend from 1e-7 to 1');
    const missing = await cli('--phase', 'fine');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("error no-such-phase: the script has no phase 'fine'");
  }, 120_000);

  it('refuses a phase the script lacks, too many steps and a broken script, and queues nothing', async () => {
    const refused = async (variables: Record<string, unknown>) => (await gql(stack.url, FIND, { source: SCRIPT, ...variables })).body.data.findLearningRate;
    expect(await refused({ phase: 'nope' })).toEqual({ job: null, diagnostics: [{ code: 'no-such-phase', message: "the script has no phase 'nope'; its phases are 'warmup', 'ft'" }] });
    expect(await refused({ steps: 5000 })).toEqual({ job: null, diagnostics: [{ code: 'bad-steps', message: 'a learning-rate search takes from 2 to 1000 steps, not 5000' }] });
    expect(await refused({ steps: 1 })).toMatchObject({ job: null, diagnostics: [{ code: 'bad-steps' }] });
    const broken = await refused({ source: SCRIPT.replace('epochs 1', 'epochs 0.5') });
    expect(broken.job).toBeNull();
    expect(broken.diagnostics.map((d: { code: string }) => d.code)).toEqual(['bad-number']);
    expect((await gql(stack.url, '{ jobs(first: 50) { totalCount } }')).body.data.jobs.totalCount).toBe(2);
  });

  it('cancels a search in the middle: the job ends cancelled, once', async () => {
    const r = await gql(stack.url, FIND, { source: SCRIPT, steps: 1000, fromStart: true });
    const { id } = r.body.data.findLearningRate.job;
    const seen = follow(id);
    const first = await follow(id, (e) => e.type === 'lrPoint');
    expect(first.at(-1)!.type).toBe('lrPoint');
    const cancelled = await gql(stack.url, 'mutation($id: ID!) { cancelJob(id: $id) { job { id } diagnostics { code } } }', { id });
    expect(cancelled.body.data.cancelJob.diagnostics).toEqual([]);
    const events = await seen;
    expect(events.filter((e) => e.type === 'jobFailed')).toEqual([expect.objectContaining({ type: 'jobFailed', code: 'cancelled', cancelled: true })]);
    expect(events.at(-1)!.type).toBe('jobFailed');
    expect(events.filter((e) => e.type === 'lrPoint').length).toBeLessThan(1000);
    expect((await gql(stack.url, JOB, { id })).body.data.job).toMatchObject({ status: 'CANCELLED', lrFound: null, error: { code: 'cancelled' } });
  }, 120_000);
});
