/**
 * Evaluations as jobs (evaluateJob): a trained job's exported model scored in a worker process
 * behind a real server on labelled images under the data root, its result streamed and kept on
 * the job, the same as scoring the export here; and each refusal and failure, said without the
 * server's own folders.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/executor/backends/select.ts';
import { evaluateModel } from '../../src/executor/evaluate-model.ts';
import { loadExported } from '../../src/executor/predict.ts';
import { followJob, gql, root, startStack, tinyScript, TL_CLI, wsClient, type Stack } from './helpers.ts';

let stack: Stack;
let trained: { id: string; exportPath: string };

const fashion = join(root, 'examples/data/fashion-mini/test');
const SUBMIT = 'mutation($source: String!) { submitJob(input: { source: $source }) { job { id } diagnostics { code message } } }';
const EVALUATE = `mutation($job: ID!, $data: String!, $worst: Int) {
  evaluateJob(input: { job: $job, data: $data, worst: $worst }) { job { id kind status } diagnostics { code message } }
}`;
const EVALUATION = 'images classes loss accuracy top5 perClass { label precision recall support } confusion confused { truth predicted count } mistakes { source truth predicted probability truthProbability }';
const JOB = `query($id: ID!) { job(id: $id) { kind status evaluates { id } evaluationData exportPath error { code message } evaluation { ${EVALUATION} } } }`;

/** Follows a job to its end; the events' types, and the evaluated event's fields. */
async function follow(id: string) {
  const client = wsClient(stack.wsUrl);
  try {
    return await followJob(client, id);
  } finally {
    await client.dispose();
  }
}

beforeAll(async () => {
  stack = await startStack();
  // A test set beside the training images: five of each class from fashion-mini's own test split.
  for (const cls of ['bag', 'boot', 'coat']) {
    mkdirSync(join(stack.dataRoot, 'test', cls), { recursive: true });
    for (const f of readdirSync(join(fashion, cls)).sort().slice(0, 5)) cpSync(join(fashion, cls, f), join(stack.dataRoot, 'test', cls, f));
  }
  // And one with a class the model never saw.
  cpSync(join(stack.dataRoot, 'test', 'bag'), join(stack.dataRoot, 'other', 'bag'), { recursive: true });
  cpSync(join(fashion, 'dress'), join(stack.dataRoot, 'other', 'dress'), { recursive: true });
  const r = await gql(stack.url, SUBMIT, { source: tinyScript(2, 'export "model"\n') });
  const id = r.body.data.submitJob.job.id as string;
  await follow(id);
  const job = await gql(stack.url, JOB, { id });
  expect(job.body.data.job.status).toBe('SUCCEEDED');
  trained = { id, exportPath: job.body.data.job.exportPath };
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('evaluateJob', () => {
  it("scores the job's model in a worker, as tl evaluate scores the export here, and keeps it on the job", async () => {
    const r = await gql(stack.url, EVALUATE, { job: trained.id, data: 'test', worst: 3 });
    expect(r.body.data.evaluateJob.diagnostics).toEqual([]);
    const { id, kind } = r.body.data.evaluateJob.job;
    expect(kind).toBe('EVALUATE');
    const events = await follow(id);
    expect(events.map((e) => e.type)).toEqual(['evaluated']);
    const job = (await gql(stack.url, JOB, { id })).body.data.job;
    expect(job).toMatchObject({ kind: 'EVALUATE', status: 'SUCCEEDED', evaluates: { id: trained.id }, evaluationData: 'test', exportPath: null, error: null });

    // The same model scored here, on the same backend, gives the same numbers.
    await selectBackend('wasm');
    const here = await evaluateModel(await loadExported(trained.exportPath), join(stack.dataRoot, 'test'), { worst: 3 });
    const e = job.evaluation;
    expect(e.images).toBe(15);
    expect(e.classes).toEqual(['bag', 'boot', 'coat']);
    expect(e.accuracy).toBeCloseTo(here.accuracy, 6);
    expect(e.confusion).toEqual(here.confusion);
    expect(e.confused).toEqual(here.confused);
    expect(e.perClass.map((c: { support: number }) => c.support)).toEqual([5, 5, 5]);
    // Images named by their paths under the data root, not the server's folders.
    expect(e.mistakes).toHaveLength(here.mistakes.length);
    e.mistakes.forEach((m: { source: string; truthProbability: number }, i: number) => {
      expect(m.source).toBe(join('test', here.mistakes[i]!.source.slice(join(stack.dataRoot, 'test').length + 1)));
      expect(m.truthProbability).toBeCloseTo(here.mistakes[i]!.truthProbability, 6);
    });
    // The event carries it too.
    expect((events[0]!.data as unknown as { evaluation: { accuracy: number } }).evaluation.accuracy).toBe(e.accuracy);
  }, 120_000);

  it('tl evaluate --server queues the evaluation there and prints its report', async () => {
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [...TL_CLI, 'evaluate', ...args, '--server', stack.url], { cwd: root }, (err, stdout, stderr) => resolve({ status: err ? (err.code as number) : 0, stdout, stderr }));
      });
    const r = await cli(trained.id, 'test', '--worst', '2', '--matrix');
    expect(r.stderr).toMatch(new RegExp(`^evaluating job ${trained.id}'s model on test as job [0-9a-f-]+\n$`));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^15 images of 3 classes\n {2}accuracy +[\d.]+%\n {2}loss/);
    expect(r.stdout).toContain('  true \\ predicted');
    expect(r.stdout).toMatch(/worst mistakes .*\n( {4}test\/\w+\/\d+\.png .*\n){2}$/);
    const refused = await cli('nope', 'test');
    expect(refused).toMatchObject({ status: 1, stderr: "tl evaluate: job-not-found: there is no job 'nope'\n" });
    expect((await cli(trained.id, 'test', '--backend', 'cpu')).stderr).toBe('tl: --backend: an evaluation on a server runs on its backend, skips unreadable images and keeps its images there; drop it\n');
  }, 120_000);

  it('refuses a job with no model, data outside the data root and too many mistakes, creating no job', async () => {
    const refused = async (job: string, data: string, worst?: number) => {
      const r = await gql(stack.url, EVALUATE, { job, data, ...(worst !== undefined && { worst }) });
      expect(r.body.data.evaluateJob.job).toBeNull();
      return r.body.data.evaluateJob.diagnostics.map((d: { code: string; message: string }) => `${d.code}: ${d.message}`);
    };
    const before = stack.service.count();
    expect(await refused('nope', 'test')).toEqual(["job-not-found: there is no job 'nope'"]);
    const first = (await gql(stack.url, EVALUATE, { job: trained.id, data: 'test', worst: 0 })).body.data.evaluateJob.job.id;
    await follow(first);
    expect(await refused(first, 'test')).toEqual([`no-model: job '${first}' has no exported model to evaluate: it trained no model; evaluate a succeeded training job whose script exports its model`]);
    expect(await refused(trained.id, '../outside')).toEqual([expect.stringMatching(/^path-outside-data-root: evaluate path '\.\.\/outside' leads outside the server's data root/)]);
    expect(await refused(trained.id, '/etc')).toEqual([expect.stringMatching(/^path-outside-data-root: evaluate path '\/etc' is outside the server's data root/)]);
    expect(await refused(trained.id, 'test', 101)).toEqual(['bad-worst: worst lists from 0 to 100 mistakes, not 101']);
    expect(stack.service.count()).toBe(before + 1);
  }, 120_000);

  it('fails the job for a class the model does not know, naming it, and data that is not there', async () => {
    const run = async (data: string) => {
      const id = (await gql(stack.url, EVALUATE, { job: trained.id, data })).body.data.evaluateJob.job.id;
      await follow(id);
      return (await gql(stack.url, JOB, { id })).body.data.job;
    };
    expect(await run('other')).toMatchObject({ status: 'FAILED', evaluation: null, error: { code: 'unknown-label', message: 'other has classes the model was not trained on: dress; it knows bag, boot, coat' } });
    const missing = await run('nowhere');
    expect(missing.error.code).toBe('data-not-found');
    expect(missing.error.message).not.toContain(stack.dataRoot);
  }, 120_000);
});
