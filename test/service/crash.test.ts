/**
 * kill -9 in the middle of a job: the real `tl serve` process is killed while a job trains and a
 * second one waits, then started again on the same database. The running job resumes from its last
 * checkpoint and finishes, the waiting one stays queued and runs, and no stored event is lost or
 * renumbered; a `tl follow` started before the kill carries on when the server is back. Then
 * `tl submit --follow` against it, and a clean shutdown on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { settleCheckpoint } from '../../src/executor/checkpoint.ts';
import { followJob, gql, makeWorkspace, range, root, seqs, submitJob, tinyScript, TL_CLI, wsClient, type EventRow } from './helpers.ts';

const TL = TL_CLI;
const workspace = makeWorkspace();
const spawned: ChildProcess[] = [];

interface Serve {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/** Starts the real `tl serve` (on a free port by default) and waits for the line that says where it listens. */
function serve(port = 0): Promise<Serve> {
  const child = spawn(process.execPath, [...TL, 'serve', '--port', String(port), '--db', join(workspace.dir, 'tl.db'), '--data-root', workspace.dataRoot, '--runs', join(workspace.dir, 'runs'), '--backend', 'wasm'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      // The banner ends with the auth line.
      const m = /listening on (\S+)[\s\S]*\n {2}auth: .*\n/.exec(out);
      if (m) resolve({ child, url: m[1]!, stdout: () => out, stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`tl serve exited with ${code}: ${err}`)));
  });
}

const childrenOf = (pid: number) => spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(() => {
  for (const c of spawned) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('a server killed with -9 mid-job', () => {
  it('resumes the running job from its checkpoint, keeps the queued one, and loses or renumbers no event', async () => {
    const a = await serve();
    const running = await submitJob(a.url, tinyScript(40));
    const waiting = await submitJob(a.url, tinyScript(2));
    const client = wsClient(a.url.replace(/^http/, 'ws'));
    const seen = await followJob(client, running, { stopWhen: (e) => e.type === 'checkpointSaved' && (e.epoch ?? 0) >= 3 });
    // The CLI follows it too, through the kill and the restart.
    const follower = spawn(process.execPath, [...TL, 'follow', running, '--server', a.url], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(follower);
    let followed = '';
    let followErr = '';
    follower.stdout!.on('data', (d: Buffer) => (followed += d.toString()));
    follower.stderr!.on('data', (d: Buffer) => (followErr += d.toString()));
    const followerExit = new Promise<number | null>((resolve) => follower.once('exit', resolve));
    await until('tl follow to show the job', () => followed.includes('epoch  3/40'));
    const workers = childrenOf(a.child.pid!);
    expect(workers.length).toBeGreaterThan(0);
    a.child.kill('SIGKILL');
    await client.dispose();
    // Its workers notice the parent is gone and stop: no second writer for the job's checkpoints.
    await until('the killed server\'s workers to exit', () => workers.every((pid) => !alive(pid)), 10_000);

    // The checkpoint on disk is the ground truth of where the job stood (its event may not have been
    // stored). The kill may land mid-swap, leaving only checkpoint.tmp: the restart settles it.
    const onDisk = settleCheckpoint(join(workspace.dir, 'runs', running, 'state', 'checkpoint'))!;

    const b = await serve(Number(new URL(a.url).port));
    expect(b.stdout()).toMatch(/recovered: 1 running job\(s\) resume from their checkpoints/);
    const jobQuery = 'query($id: ID!) { job(id: $id) { status attempts queuePosition } }';
    expect((await gql(b.url, jobQuery, { id: waiting })).body.data.job).toMatchObject({ status: 'QUEUED', attempts: 0 });

    const client2 = wsClient(b.url.replace(/^http/, 'ws'));
    const all = await followJob(client2, running);
    expect(all.slice(0, seen.length)).toEqual(seen);
    expect(seqs(all)).toEqual(range(1, all.length));
    expect(all.at(-1)).toMatchObject({ type: 'jobFinished', attempt: 2 });
    const lastCheckpoint = all.filter((e) => e.attempt === 1 && e.type === 'checkpointSaved').at(-1)!;
    const restart = all.filter((e: EventRow) => e.attempt === 2);
    expect(restart[0]!.type).toBe('jobStarted');
    // It continues right after the checkpoint on disk: the last one whose event was stored, or a
    // later one whose events were still on their way from the worker when the server died (never
    // stored, so not lost).
    expect(lastCheckpoint.epoch).toBeGreaterThanOrEqual(3);
    expect(onDisk.epochsDone).toBeGreaterThanOrEqual(lastCheckpoint.epoch!);
    expect(restart.find((e) => e.type === 'epochEnded')!.epoch).toBe(onDisk.epochsDone + 1);
    // The follower lost the server once, got it back, and saw the job to its end.
    expect(await followerExit).toBe(0);
    expect(followErr).toMatch(/^connection to 127\.0\.0\.1:\d+ lost \(closed with code 1006\); reconnecting to continue after event \d+\.\.\.\nreconnected; continuing after event \d+\n$/);
    expect(followed).toContain('attempt 2: the job was restarted or resumed');
    expect(followed).toContain('epoch 40/40');
    expect(followed).toMatch(/validation accuracy/);

    // The queued job runs next; `tl submit --follow` queues a third behind it and shows its progress,
    // and the warnings of its run: its data holds a file that is not an image, named with an escape
    // sequence (which neither the follower's terminal nor the server's may receive as it is).
    cpSync(join(workspace.dataRoot, 'imgs'), join(workspace.dataRoot, 'imgs2'), { recursive: true });
    writeFileSync(join(workspace.dataRoot, 'imgs2/coat/broken\x1b[2J.png'), 'not a png');
    const file = join(workspace.dir, 'third.tl');
    writeFileSync(file, tinyScript(2).replace('"imgs"', '"imgs2"'));
    const submit = spawn(process.execPath, [...TL, 'submit', file, '--server', b.url.replace('/graphql', ''), '--follow'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(submit);
    let out = '';
    let err = '';
    submit.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    submit.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => submit.once('exit', resolve));
    expect(err).toMatch(/submitted job \S+ \((queued, 1 in line|running)\)/);
    expect(out).toMatch(/model tiny, 3 classes, 12 training and 6 validation images/);
    expect(out).toMatch(/epoch {2}2\/2 {2}loss \d\.\d{4}/);
    expect(out).toMatch(/validation accuracy/);
    const skipped = `skipped image '${join(workspace.dataRoot, 'imgs2/coat/broken\x1b[2J.png')}': not an image, or not in a format TL reads (JPEG, PNG, WebP, GIF, TIFF, AVIF)`;
    const shown = skipped.replace('\x1b', '\\u001b');
    expect(err).toContain(`warning: ${shown}\n`);
    expect(b.stderr()).toContain(`warning: ${shown}\n`);
    expect(err + b.stderr()).not.toContain('\x1b');
    expect(code).toBe(0);
    expect((await gql(b.url, jobQuery, { id: waiting })).body.data.job).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    const third = /submitted job (\S+)/.exec(err)![1]!;
    const warned = await gql(b.url, 'query($id: ID!) { job(id: $id) { events(first: 100) { type ... on JobWarningEvent { message } } } }', { id: third });
    expect(warned.body.data.job.events.filter((e: { type: string }) => e.type === 'warning')).toEqual([{ type: 'warning', message: skipped }]);

    // A refused script: the diagnostics as `tl check` prints them, exit 1, no job.
    const bad = join(workspace.dir, 'bad.tl');
    writeFileSync(bad, 'use tiny\ndata "../../etc" split 0.2\n');
    const refused = spawnSync(process.execPath, [...TL, 'submit', bad, '--server', b.url], { cwd: root, encoding: 'utf8' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${bad}:2:1: error path-outside-data-root: data path '../../etc' leads outside the server's data root`);
    expect(refused.stderr).toContain('2 | data "../../etc" split 0.2\n    ^^^^');
    expect((await gql(b.url, '{ jobs { totalCount } }')).body.data.jobs.totalCount).toBe(3);
    await client2.dispose();

    // SIGTERM: a clean stop, with nothing left open to keep the process alive.
    b.child.kill('SIGTERM');
    const exit = await new Promise<number | null>((resolve) => b.child.once('exit', resolve));
    expect(exit).toBe(0);
  }, 240_000);
});
