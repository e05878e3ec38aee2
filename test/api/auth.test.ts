/**
 * Strangers: bearer-token auth over HTTP, SSE and websockets (401 and close code 4401, never a
 * job), and scripts whose paths reach outside the data root or the job's folder (a diagnostic on
 * the statement, never a job). A real server on port 0 over a real SQLite file.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient as createSseClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, makeWorkspace, root, startStack, SUBMIT, submitJob, tinyScript, TL_CLI, wsClient, type Stack } from '../service/helpers.ts';

const TOKEN = 'test-token-3f9a';
let locked: Stack;
let open: Stack;

beforeAll(async () => {
  const workspace = makeWorkspace(2);
  // Things outside the data root for scripts to reach for.
  const outside = join(workspace.dir, 'outside');
  mkdirSync(join(outside, 'cls'), { recursive: true });
  writeFileSync(join(outside, 'cls', 'secret.png'), 'not really a png');
  symlinkSync(outside, join(workspace.dataRoot, 'link-out'));
  mkdirSync(join(workspace.dataRoot, 'sneaky', 'bag'), { recursive: true });
  symlinkSync(join(outside, 'cls', 'secret.png'), join(workspace.dataRoot, 'sneaky', 'bag', 'x.png'));
  writeFileSync(join(workspace.dataRoot, 'list.csv'), `path,label\nimgs/bag/${'000.png'},bag\n../outside/cls/secret.png,bag\n`);
  locked = await startStack({ workspace, auth: { token: TOKEN, publicRead: false }, service: { prestartWorker: false } });
  open = await startStack({ auth: { token: TOKEN, publicRead: true }, service: { prestartWorker: false } });
});
afterAll(async () => {
  await locked?.close();
  await open?.close();
});

const countJobs = async (s: Stack) => (await gql(s.url, '{ jobs { totalCount } }', undefined, TOKEN)).body.data.jobs.totalCount as number;

/** How a websocket closed, or 'open' when it connected and ran the operation. */
async function wsOutcome(url: string, query: string, token?: string): Promise<{ code: number; reason: string } | 'open'> {
  const client = wsClient(url, token);
  try {
    return await new Promise((resolve) => {
      client.on('closed', (e) => {
        const ev = e as { code: number; reason: string };
        resolve({ code: ev.code, reason: ev.reason });
      });
      client.subscribe({ query }, { next: () => resolve('open'), error: () => {}, complete: () => resolve('open') });
    });
  } finally {
    await client.dispose();
  }
}

describe('bearer-token auth', () => {
  it('answers 401 over HTTP without the token or with a wrong one, and never creates a job', async () => {
    const missing = await gql(locked.url, SUBMIT, { source: 'use tiny\ndata "imgs"\nepochs 1' });
    expect(missing.status).toBe(401);
    expect(missing.body.errors?.[0]).toMatchObject({ message: 'this server needs Authorization: Bearer TOKEN', extensions: { code: 'UNAUTHENTICATED' } });
    const wrong = await gql(locked.url, SUBMIT, { source: 'use tiny\ndata "imgs"\nepochs 1' }, 'not-the-token');
    expect(wrong.status).toBe(401);
    expect((await gql(locked.url, '{ jobs { totalCount } }')).status).toBe(401);
    expect((await gql(locked.url, '{ jobs { totalCount } }', undefined, 'nope')).status).toBe(401);
    expect(await countJobs(locked)).toBe(0);
  });

  it('closes websockets with 4401 without the token or with a wrong one, and runs operations with it', async () => {
    const query = '{ jobs { totalCount } }';
    expect(await wsOutcome(locked.wsUrl, query)).toEqual({ code: 4401, reason: 'this server needs connectionParams.authorization: Bearer TOKEN' });
    expect(await wsOutcome(locked.wsUrl, query, 'wrong')).toEqual({ code: 4401, reason: 'wrong token: check the Bearer token' });
    expect(await wsOutcome(locked.wsUrl, query, TOKEN)).toBe('open');
  });

  it('with --public-read lets queries through but not mutations or subscriptions', async () => {
    const query = await gql(open.url, '{ jobs { totalCount } }');
    expect(query.status).toBe(200);
    expect(query.body.data.jobs.totalCount).toBe(0);
    const mutation = await gql(open.url, SUBMIT, { source: 'use tiny\ndata "imgs"\nepochs 1' });
    expect(mutation.status).toBe(401);
    expect(mutation.body.errors?.[0]?.message).toBe('a mutation needs Authorization: Bearer TOKEN');
    expect(await wsOutcome(open.wsUrl, '{ jobs { totalCount } }')).toBe('open');
    expect(await wsOutcome(open.wsUrl, 'subscription { jobUpdates { id } }')).toEqual({ code: 4401, reason: 'a subscription needs connectionParams.authorization: Bearer TOKEN' });
    expect(await wsOutcome(open.wsUrl, 'subscription { jobUpdates { id } }', 'wrong')).toEqual({ code: 4401, reason: 'wrong token: check the Bearer token' });
    expect(await countJobs(open)).toBe(0);
  });

  it('tl follow says when a subscription needs the token, and follows with it', async () => {
    const id = await submitJob(open.url, tinyScript(1), TOKEN);
    const { TL_API_TOKEN: _, ...env } = process.env;
    // Not spawnSync: the server answering it runs in this process.
    const follow = (...more: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [...TL_CLI, 'follow', id, '--server', open.url, ...more], { cwd: root, env }, (err, stdout, stderr) => resolve({ status: err ? (err.code as number) : 0, stdout, stderr }));
      });
    const refused = await follow();
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('tl follow: the server refused the websocket: a subscription needs connectionParams.authorization: Bearer TOKEN; pass --token or set TL_API_TOKEN\n');
    const followed = await follow('--token', TOKEN);
    expect(followed.status).toBe(0);
    expect(followed.stdout).toMatch(/epoch {2}1\/1 .*\n[\s\S]*validation accuracy/);
  }, 60_000);

  it('refuses SSE subscriptions without the token', async () => {
    const res = await fetch(open.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: 'subscription { jobUpdates { id } }' }) });
    expect(res.status).toBe(401);
    await res.body?.cancel();
    const sse = createSseClient({ url: open.url, retryAttempts: 0, headers: { authorization: 'Bearer wrong' } });
    const error = await new Promise<unknown>((resolve) => sse.subscribe({ query: 'subscription { jobUpdates { id } }' }, { next: () => resolve('next'), error: resolve, complete: () => resolve('complete') }));
    expect(String((error as Error).message ?? error)).toMatch(/401/);
    sse.dispose();
  });
});

describe('paths outside the data root', () => {
  async function refused(source: string) {
    const r = await gql(locked.url, SUBMIT, { source }, TOKEN);
    expect(r.status).toBe(200);
    expect(r.body.data.submitJob.job).toBeNull();
    return r.body.data.submitJob.diagnostics.filter((d: { severity: string }) => d.severity === 'ERROR');
  }

  it("refuses '..', absolute paths elsewhere and exports out of the job's folder, on the statement", async () => {
    expect(await refused('use tiny\nepochs 1\ndata "../outside" split 0.2\n')).toEqual([
      { code: 'path-outside-data-root', severity: 'ERROR', line: 3, column: 1, message: "data path '../outside' leads outside the server's data root through '..'; use a path inside it (relative paths start at the data root)" },
    ]);
    expect(await refused('use tiny\ndata "imgs" val "/etc"\n')).toEqual([expect.objectContaining({ code: 'path-outside-data-root', line: 2, message: expect.stringMatching(/^val path '\/etc' is outside the server's data root/) })]);
    expect(await refused('use tiny\ndata "imgs"\nevaluate "imgs/../../x"\nexport "../../elsewhere"\n')).toEqual([
      expect.objectContaining({ code: 'path-outside-data-root', line: 3, column: 1 }),
      expect.objectContaining({ code: 'path-outside-run-dir', line: 4, column: 1 }),
    ]);
    expect(await refused('use tiny weights "/etc/passwd"\ndata "imgs"\n')).toEqual([expect.objectContaining({ code: 'path-outside-data-root', line: 1, message: expect.stringMatching(/^weights path/) })]);
    expect(await countJobs(locked)).toBe(0);
  });

  it('refuses symbolic links that lead out: the path itself, a link inside a data folder, a manifest row', async () => {
    expect(await refused('use tiny\ndata "link-out"\n')).toEqual([expect.objectContaining({ code: 'path-outside-data-root', message: "data path 'link-out' is a symbolic link (or passes through one) that leads outside the server's data root" })]);
    expect(await refused('use tiny\ndata "sneaky"\n')).toEqual([expect.objectContaining({ message: `data folder 'sneaky' contains '${join('bag', 'x.png')}', a symbolic link that leads outside the server's data root` })]);
    expect(await refused('use tiny\ndata "list.csv"\n')).toEqual([expect.objectContaining({ message: expect.stringMatching(/^data manifest 'list.csv' line 3 names '.*secret.png', which is outside the server's data root$/) })]);
    // A test set is read in its own format: a manifest after class folders is checked row by row too.
    expect(await refused('use tiny\ndata "imgs"\nevaluate "list.csv"\n')).toEqual([expect.objectContaining({ line: 3, message: expect.stringMatching(/^evaluate manifest 'list.csv' line 3 names '.*secret.png', which is outside the server's data root$/) })]);
    expect(await countJobs(locked)).toBe(0);
  });

  it('check reports the same refusals without a job, and accepts paths inside', async () => {
    const bad = await gql(locked.url, '{ check(source: "use tiny\\ndata \\"../x\\"") { ok diagnostics { code line } } }', undefined, TOKEN);
    expect(bad.body.data.check).toEqual({ ok: false, diagnostics: expect.arrayContaining([{ code: 'path-outside-data-root', line: 2 }]) });
    const good = await gql(locked.url, '{ check(source: "use tiny\\ndata \\"imgs\\"\\nexport \\"model\\"") { ok } }', undefined, TOKEN);
    expect(good.body.data.check.ok).toBe(true);
  });
});
