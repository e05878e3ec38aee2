/**
 * TL as a TypeScript library, the way a user gets it: `npm pack` (the files package.json ships),
 * unpacked into a fresh project's node_modules, a consumer written against `tl`, `tl/executor`,
 * `tl/server` and `tl/client` (and the README's TypeScript examples) type-checked by tsc in strict
 * NodeNext mode, then the consumer run by node. It
 * compiles a script, trains a tiny model on real images, predicts from files and from bytes, fails
 * on a wrong path with a typed error, and trains again through a real server on a real port,
 * followed by the client over a real websocket.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compiledIsFresh, makeWorkspace, root } from './service/helpers.ts';

const CONSUMER = `
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, format, formatDiagnostics, type Diagnostic, type Plan } from 'tl';
import { evaluateModel, ExecutorError, explainImage, heatmapImage, loadModel, parsePlan, predictFiles, predictImages, runPlan, type ExecutorEvent } from 'tl/executor';
import { JobService, startServer } from 'tl/server';
import { TlClient, TlClientError } from 'tl/client';

const [dataRoot, work] = process.argv.slice(2) as [string, string];
const out: Record<string, unknown> = {};

const bad = 'use resnet5O';
const refused: readonly Diagnostic[] = compile(bad).diagnostics;
out.printed = formatDiagnostics(refused, { file: 'bad.tl', source: bad });
out.formatted = format('use tiny   input 32').text;

const source = 'use tiny input 32\\ndata "imgs" split 0.25\\nfreeze none\\nepochs 2\\nbatch 4\\nexport "model"\\n';
const plan: Plan | undefined = compile(source).plan;
if (!plan) throw new Error('the script did not compile');
// @ts-expect-error: a phase's rate is a number, so the types are real, not any
const rate: string = plan.phases[0]!.lr;
void rate;

const events: ExecutorEvent['type'][] = [];
const result = await runPlan(plan, { baseDir: dataRoot, runDir: join(work, 'state'), backend: 'wasm', onEvent: (e) => events.push(e.type) });
out.events = [...new Set(events)];
out.accuracy = result.metrics.accuracy;
// @ts-expect-error: the result's metrics are typed
result.metrics.nothing;

const model = await loadModel(result.exportPath!, { backend: 'wasm' });
const image = join(dataRoot, 'imgs', 'boot', readdirSync(join(dataRoot, 'imgs', 'boot')).sort()[0]!);
const [fromFile] = await predictFiles(model, [image], 2);
const [fromBytes, notImage] = await predictImages(model, [readFileSync(image), new Uint8Array([1, 2, 3])], 2);
out.sameRanking = JSON.stringify(fromFile!.top) === JSON.stringify(fromBytes!.top);
out.top = fromBytes!.top.map((t) => t.label);
out.notImage = notImage!.error;
const evaluation = await evaluateModel(model, 'imgs', { baseDir: dataRoot, worst: 1 });
out.evaluated = [evaluation.images, evaluation.confusion.flat().reduce((a, b) => a + b, 0), evaluation.perClass.map((c) => c.label)];
const explained = await explainImage(model, readFileSync(image), { label: 'boot' });
const png = await heatmapImage(readFileSync(image), explained.map);
out.explained = [explained.label, explained.map.values.length === explained.map.rows * explained.map.cols, png.subarray(1, 4).toString()];

try {
  await runPlan(compile(source.replace('"imgs"', '"nowhere"')).plan!, { baseDir: dataRoot, runDir: join(work, 'state2') });
} catch (err) {
  if (err instanceof ExecutorError) out.failure = { code: err.code, line: err.origin?.line ?? null };
}

out.reread = JSON.stringify(parsePlan(JSON.parse(JSON.stringify(plan))).plan) === JSON.stringify(plan);
out.otherVersion = parsePlan({ version: 3 }).problems;
// A plan a program edited is checked before anything runs: the field and why.
const edited: Plan = { ...plan, phases: [] };
out.badPlan = await runPlan(edited, { baseDir: dataRoot, runDir: join(work, 'state3') }).then(() => 'ran', (err: unknown) => (err instanceof ExecutorError ? \`\${err.code}: \${err.message}\` : String(err)));

const service = JobService.open({ dbFile: join(work, 'tl.db'), dataRoot, runsDir: join(work, 'runs'), backend: 'wasm', log: () => {} });
const server = await startServer({ service, port: 0, host: '127.0.0.1', auth: { token: 'secret', publicRead: false } });
try {
  out.withoutToken = await new TlClient(server.url).submit(source).then(() => 'accepted', (err: unknown) => (err instanceof TlClientError ? err.code : String(err)));
  const client = new TlClient(server.url, { token: 'secret' });
  out.refusedJob = (await client.submit(bad)).diagnostics.map((d) => [d.code, d.line, d.column]);
  // The job list's live updates: a second job waits in the queue behind the first, so the stream is
  // live well before it starts, and each of its changes comes through.
  const statuses: string[] = [];
  const watching = (async () => {
    for await (const update of client.updates()) {
      if (update.name !== 'second') continue;
      statuses.push(update.status);
      if (update.status === 'SUCCEEDED') break;
    }
  })();
  const { job } = await client.submit(source.replace('epochs 2', 'epochs 1'), { name: 'from-a-library' });
  await client.submit(source.replace('epochs 2', 'epochs 1'), { name: 'second' });
  const seen: string[] = [];
  for await (const { seq, event } of client.events(job!.id)) seen.push(\`\${seq}:\${event.type}\`);
  out.served = seen;
  await watching;
  out.statuses = statuses;
  // The list, newest first, a page at a time.
  const first = await client.jobs({ first: 1 });
  const rest = await client.jobs({ first: 1, after: first.next! });
  out.listed = [first, rest].map((page) => ({ names: page.jobs.map((j) => j.name), totalCount: page.totalCount, more: page.next !== null }));
  out.job = await client.job(job!.id);
  out.cancelEnded = (await client.cancel(job!.id)).diagnostics.map((d) => d.code);
  out.resumeSucceeded = (await client.resume(job!.id)).diagnostics.map((d) => d.code);
  // The model it exported, scored on the server as a job of its own.
  const scoring = await client.evaluate(job!.id, 'imgs', { worst: 1 });
  for await (const { event } of client.events(scoring.job!.id)) {
    if (event.type === 'evaluated') out.evaluatedThere = [event.evaluation.images, event.evaluation.mistakes.length <= 1, event.evaluation.classes];
  }
} finally {
  await server.close();
  await service.stop();
}
console.log(JSON.stringify(out));
`;

describe('the package, from TypeScript', () => {
  let project: string;
  let data: { dir: string; dataRoot: string };

  beforeAll(() => {
    // npm test builds first; run alone on stale sources, build what the package ships.
    if (!compiledIsFresh) execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'pipe' });
    project = mkdtempSync(join(tmpdir(), 'tl-consumer-'));
    const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: root, encoding: 'utf8' })) as [{ filename: string }];
    const modules = join(project, 'node_modules');
    mkdirSync(join(modules, 'tl'), { recursive: true });
    execFileSync('tar', ['xzf', join(project, packed[0].filename), '-C', join(modules, 'tl'), '--strip-components', '1']);
    // TL's own dependencies, as npm would have installed them beside it.
    for (const dep of readdirSync(join(root, 'node_modules'))) if (dep !== '.bin' && dep !== '.package-lock.json') symlinkSync(join(root, 'node_modules', dep), join(modules, dep));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The README's TypeScript examples are checked beside the consumer (not run: the first trains the quickstart).
    const examples = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    examples.forEach((text, i) => writeFileSync(join(project, `readme-${i + 1}.ts`), text));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noUncheckedIndexedAccess: true, skipLibCheck: false, types: ['node'], outDir: 'out' }, files: ['app.ts', ...examples.map((_, i) => `readme-${i + 1}.ts`)] }));
    writeFileSync(join(project, 'app.ts'), CONSUMER);
    expect(examples.length).toBeGreaterThanOrEqual(2);
    data = makeWorkspace(4);
  }, 120_000);

  it('type-checks a consumer, and what it compiles, trains, predicts and serves is real', () => {
    // skipLibCheck off, so that TL's declaration files are checked in full; tfjs's own do not pass
    // a strict check (it is why projects set skipLibCheck), so errors inside TL's dependencies are let be.
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project, encoding: 'utf8' });
    const errors = [...(tsc.stdout + tsc.stderr).matchAll(/^(\S[^(\n]*)\(\d+,\d+\): error .*$/gm)];
    const ours = errors.filter((e) => !resolve(project, e[1]!).startsWith(join(root, 'node_modules'))).map((e) => e[0]);
    expect(ours).toEqual([]);

    const run = spawnSync(process.execPath, [join(project, 'out/app.js'), data.dataRoot, data.dir], { cwd: project, encoding: 'utf8', timeout: 240_000 });
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(out.printed).toContain("bad.tl:1:5: error unknown-model: unknown model 'resnet5O'; did you mean 'resnet50'?");
    expect(out.formatted).toBe('use tiny input 32\n');
    expect(out.events).toEqual(['jobStarted', 'phaseStarted', 'batchProgress', 'epochEnded', 'phaseEnded', 'jobFinished']);
    expect(out.accuracy).toBeGreaterThanOrEqual(0);
    expect(out.sameRanking).toBe(true);
    expect(out.top).toHaveLength(2);
    expect(out.notImage).toMatch(/\S/);
    // Three classes of four images (makeWorkspace(4)), all scored.
    expect(out.evaluated).toEqual([12, 12, ['bag', 'boot', 'coat']]);
    expect(out.explained).toEqual(['boot', true, 'PNG']);
    expect(out.failure).toEqual({ code: 'data-not-found', line: 2 });
    expect(out.reread).toBe(true);
    expect(out.otherVersion).toEqual(['version: this TL reads plans of version 1, not 3']);
    expect(out.badPlan).toBe('bad-plan: not a TL plan: phases: Too small: expected array to have >=1 items');
    expect(out.withoutToken).toBe('unauthorized');
    expect(out.refusedJob).toEqual([['unknown-model', 1, 5], ['missing-data', 1, 13]]);
    expect(out.served[0]).toBe('1:jobStarted');
    expect(out.served.at(-1)).toMatch(/^\d+:jobFinished$/);
    expect(out.job).toMatchObject({ name: 'from-a-library', kind: 'TRAIN', status: 'SUCCEEDED', error: null });
    expect(out.job.lastSeq).toBe(out.served.length);
    expect(out.statuses.slice(-2)).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(out.listed).toEqual([{ names: ['second'], totalCount: 2, more: true }, { names: ['from-a-library'], totalCount: 2, more: false }]);
    expect(out.cancelEnded).toEqual(['job-not-cancellable']);
    expect(out.resumeSucceeded).toEqual(['job-not-resumable']);
    expect(out.evaluatedThere).toEqual([12, true, ['bag', 'boot', 'coat']]);
  }, 300_000);
});
