/**
 * The API without training: compile-only queries, the zoo, the backends, the health check and
 * GraphiQL, and bad input over HTTP and websockets: malformed GraphQL, too deep or too costly
 * operations, oversize scripts and bodies. A real server on port 0; no mocks.
 */
import { Server, Socket, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import type { ExecutorEvent } from '../../src/executor/events.ts';
import { gql, startStack, wsClient, type Stack } from '../service/helpers.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ service: { prestartWorker: false, limits: { maxScriptBytes: 2000 } } });
});
afterAll(async () => {
  await stack?.close();
});

describe('queries', () => {
  it('check returns diagnostics with code, line, column and severity, and creates no job', async () => {
    const r = await gql(stack.url, '{ check(source: "use tiny\\nfreeze until blok4\\n") { ok diagnostics { code severity message line column endLine endColumn } } }');
    expect(r.status).toBe(200);
    expect(r.body.data.check.ok).toBe(false);
    expect(r.body.data.check.diagnostics.find((d: { code: string }) => d.code === 'unknown-block')).toMatchObject({
      code: 'unknown-block', severity: 'ERROR', message: expect.stringMatching(/^unknown block 'blok4'.*did you mean 'block4'\?$/), line: 2, column: 14, endLine: 2, endColumn: 19,
    });
    expect((await gql(stack.url, '{ jobs { totalCount } }')).body.data.jobs.totalCount).toBe(0);
  });

  it('plan returns the compiled plan as JSON, or null with the errors', async () => {
    const ok = await gql(stack.url, 'query($s: String!) { plan(source: $s) { plan diagnostics { code } } }', { s: 'use tiny\ndata "imgs" split 0.25\nepochs 2' });
    expect(ok.body.data.plan.plan).toMatchObject({ version: 1, model: { name: 'tiny' }, data: { path: 'imgs', split: 0.25 } });
    expect(ok.body.data.plan.plan.phases[0].epochs).toBe(2);
    const bad = await gql(stack.url, '{ plan(source: "use tiny\\nlr 0") { plan diagnostics { code line column } } }');
    expect(bad.body.data.plan.plan).toBeNull();
    expect(bad.body.data.plan.diagnostics).toContainEqual({ code: 'lr-not-positive', line: 2, column: 4 });
  });

  it("withLearningRate writes a phase's rate into the script, or says why it cannot", async () => {
    const Q = 'query($source: String!, $phase: String!, $lr: Float!) { withLearningRate(source: $source, phase: $phase, lr: $lr) { source error } }';
    const ask = async (source: string, phase: string, lr: number) => (await gql(stack.url, Q, { source, phase, lr })).body.data.withLearningRate;
    expect(await ask('use tiny\nphase ft unfreeze all lr 1e-4 # fine-tune\n', 'ft', 0.00237)).toEqual({ source: 'use tiny\nphase ft unfreeze all lr 2.4e-3 # fine-tune\n', error: null });
    expect(await ask('use tiny\nphase ft unfreeze all\n', 'warmup', 0.01)).toEqual({ source: 'use tiny\nlr 1e-2\nphase ft unfreeze all\n', error: null });
    expect(await ask('use tiny', 'ft', 0.01)).toEqual({ source: null, error: "the script has no phase 'ft'; its phases are 'warmup'" });
    expect(await ask('use tiny', 'warmup', 2)).toEqual({ source: null, error: 'a learning rate must be above 0 and at most 1, not 2' });
    expect((await ask(`use tiny # ${'x'.repeat(3000)}`, 'warmup', 0.01)).error).toBe('the script is 3011 bytes; this server accepts at most 2000');
  });

  it('starterScript writes a first script for a folder under the data root, which check passes, or says why it cannot', async () => {
    const Q = 'query($data: String!) { starterScript(data: $data) { source error } }';
    const ask = async (data: string) => (await gql(stack.url, Q, { data })).body.data.starterScript as { source: string | null; error: string | null };
    const made = await ask('imgs');
    expect(made.error).toBeNull();
    expect(made.source).toMatch(/^# Written by tl init from imgs: 3 classes, 18 images \(6 a class\), shorter side about 28 px \(median of 18\)\.\n/);
    expect(made.source).toContain('\ndata "imgs" split 0.2   # a fifth of each class held out to validate\n');
    expect(made.source).toContain('\nexport "runs/imgs"\n');
    const checked = await gql(stack.url, 'query($s: String!) { check(source: $s) { ok diagnostics { code } } }', { s: made.source });
    expect(checked.body.data.check).toEqual({ ok: true, diagnostics: [] });
    // Nothing outside the data root is read, and the server's own folders are not named.
    expect(await ask('../')).toEqual({ source: null, error: "data path '../' leads outside the server's data root through '..'; use a path inside it (relative paths start at the data root)" });
    expect(await ask('/etc')).toEqual({ source: null, error: "data path '/etc' is outside the server's data root; use a path inside it (relative paths start at the data root)" });
    expect((await ask('nope')).error).toMatch(/^data folder 'nope' does not exist; /);
    expect((await ask('imgs/bag')).error).toBe("data folder 'imgs/bag' has no class sub-folders; put each class's images in 'imgs/bag/<class name>/', or the classes of each split in 'imgs/bag/train', 'imgs/bag/val' and 'imgs/bag/test'");
    // Another base, or one it does not offer.
    const other = async (model: string) => (await gql(stack.url, 'query($m: String) { starterScript(data: "imgs", model: $m) { source error } }', { m: model })).body.data.starterScript;
    expect((await other('vgg16')).source).toContain('\nuse vgg16 input 96   # its ImageNet weights: tl weights fetch vgg16 (once); ');
    expect(await other('tiny')).toEqual({ source: null, error: "no pretrained model 'tiny'; first scripts are for mobilenetv2, inceptionv3, resnet50, vgg16" });
  });

  it('models lists the zoo with blocks and where weights come from', async () => {
    const r = await gql(stack.url, '{ models { name input imagenet availableWeights layerCount blocks { name lastLayer } } }');
    const tiny = r.body.data.models.find((m: { name: string }) => m.name === 'tiny');
    expect(tiny).toMatchObject({ input: 32, imagenet: 'UNAVAILABLE', availableWeights: ['none', 'file'] });
    expect(tiny.blocks.map((b: { name: string }) => b.name)).toEqual(['block1', 'block2', 'block3', 'block4', 'block5']);
    expect(r.body.data.models.find((m: { name: string }) => m.name === 'mobilenetv2')).toMatchObject({ imagenet: 'BUNDLED' });
  });

  it('backends says what a worker can load and which one jobs use', async () => {
    const r = await gql(stack.url, '{ backends { name available detail selected } }');
    const byName = Object.fromEntries(r.body.data.backends.map((b: { name: string }) => [b.name, b]));
    expect(Object.keys(byName)).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
    expect(byName.wasm).toMatchObject({ available: true, selected: true });
    expect(byName.cpu).toMatchObject({ available: true, selected: false });
    // Each detail says what that backend is or why it failed, with nothing of another backend in it.
    expect(byName.wasm.detail).toMatch(/^WebAssembly on \d+ threads?/);
    expect(byName.wasm.detail).not.toMatch(/skipped/);
    for (const b of Object.values(byName) as { detail: string }[]) expect(b.detail).not.toMatch(/no usable tfjs backend/);
  }, 120_000);

  it('pages through jobs with an opaque cursor and refuses one it did not make', async () => {
    const r = await gql(stack.url, '{ jobs(first: 5) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }');
    expect(r.body.data.jobs).toEqual({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    const bad = await gql(stack.url, '{ jobs(after: "nonsense") { totalCount } }');
    expect(bad.body.errors?.[0]?.message).toMatch(/not a cursor this server made/);
    const tooMany = await gql(stack.url, '{ jobs(first: 1000) { totalCount } }');
    expect(tooMany.body.errors?.[0]?.message).toMatch(/'first' must be an integer from 0 to 100/);
  });

  it('serves GET /health, and GraphiQL to a browser with nothing loaded from elsewhere', async () => {
    const health = await fetch(stack.url.replace('/graphql', '/health'));
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', queued: 0, running: 0, jobs: 0 });
    const page = await fetch(stack.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/renderYogaGraphiQL/);
    expect(html).toContain('<title>TL</title>');
    // Offline, a page that fetches its script or styles from a CDN is blank.
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr/);
  });
});

describe('bad input', () => {
  it('answers malformed GraphQL with a syntax error and a 400, not a crash', async () => {
    const r = await gql(stack.url, '{ jobs { totalCount ');
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toMatch(/Syntax Error/);
    const unknown = await gql(stack.url, '{ nope }');
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors?.[0]?.message).toMatch(/Cannot query field "nope"/);
    const notJson = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(notJson.status).toBe(400);
    // A body yoga has no parser for: a 415 that says what to send, not an empty one.
    const plain = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{ jobs { totalCount } }' });
    expect(plain.status).toBe(415);
    expect(await plain.json()).toEqual({
      errors: [{ message: "send the operation as JSON in a POST (content-type: application/json) or in a GET's query string; found content-type 'text/plain'", extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' } }],
    });
  });

  it('refuses too deep, too costly and too complex operations before running them, counting through fragments', async () => {
    // The full introspection query GraphiQL sends is 15 levels deep, the default limit.
    const { getIntrospectionQuery } = await import('graphql');
    expect((await gql(stack.url, getIntrospectionQuery())).body.errors).toBeUndefined();
    // Introspection types nest without end: 16 levels, through a fragment, is refused.
    const recursive = 'fragment T on __Type { fields { type { fields { type { fields { type { fields { type { name } } } } } } } } }';
    const deep = await gql(stack.url, `{ __type(name: "Job") { fields { type { fields { type { fields { type { ...T } } } } } } } } ${recursive}`);
    expect(deep.status).toBe(400);
    expect(deep.body.errors?.[0]).toMatchObject({ message: 'the operation is 16 levels deep; this server allows at most 15', extensions: { code: 'QUERY_TOO_DEEP' } });

    const fine = await gql(stack.url, '{ jobs(first: 20) { edges { node { events(first: 100) { seq type } } } } }');
    expect(fine.body.errors).toBeUndefined();
    const costly = await gql(stack.url, '{ jobs(first: 100) { edges { node { events(first: 1000) { seq type } } } } }');
    expect(costly.status).toBe(400);
    expect(costly.body.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COSTLY' } });
    expect(costly.body.errors?.[0]?.message).toMatch(/estimated cost is \d+; this server allows at most 10000/);
    // A variable `first` is assumed to be its maximum.
    const variable = await gql(stack.url, 'query($n: Int) { jobs(first: $n) { edges { node { events(first: $n) { seq type } } } } }', { n: 1 });
    expect(variable.body.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COSTLY' } });
    // Cheap by cost, yet too many overlapping fields for graphql-js to compare: a reason, not its bare "Validation aborted.".
    const aliases = await gql(stack.url, `{ ${'a: __typename '.repeat(2000)}}`);
    expect(aliases.status).toBe(400);
    expect(aliases.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'QUERY_TOO_COMPLEX' } })]);
    expect(aliases.body.errors?.[0]?.message).toMatch(/too many fields or fragment spreads to validate/);
    expect((await gql(stack.url, `{ ${'a: __typename '.repeat(200)}}`)).body).toEqual({ data: { a: 'Query' } });
  });

  it('refuses an oversize script with a diagnostic, and an oversize body with a 413', async () => {
    const big = `use tiny\n${'# padding\n'.repeat(300)}`;
    const r = await gql(stack.url, 'mutation($s: String!) { submitJob(input: { source: $s }) { job { id } diagnostics { code message line column } } }', { s: big });
    expect(r.body.data.submitJob.job).toBeNull();
    expect(r.body.data.submitJob.diagnostics).toEqual([{ code: 'script-too-large', message: `the script is ${big.length} bytes; this server accepts at most 2000`, line: null, column: null }]);
    const check = await gql(stack.url, 'query($s: String!) { check(source: $s) { ok diagnostics { code } } }', { s: big });
    expect(check.body.data.check).toEqual({ ok: false, diagnostics: [{ code: 'script-too-large' }] });
    const huge = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ jobs { totalCount } }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }) });
    expect(huge.status).toBe(413);
    expect((await gql(stack.url, '{ jobs { totalCount } }')).body.data.jobs.totalCount).toBe(0);
  });

  it('answers malformed GraphQL over websockets with an error and keeps the socket open', async () => {
    const client = wsClient(stack.wsUrl);
    const errors: unknown[] = [];
    await new Promise<void>((resolve) => {
      client.subscribe({ query: 'subscription { jobEvents(jobId: "x" ' }, { next: () => {}, error: (e) => (errors.push(e), resolve()), complete: resolve });
    });
    expect(JSON.stringify(errors)).toMatch(/Syntax Error/);
    const unknownJob = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: 'subscription { jobEvents(jobId: "no-such-job") { seq } }' }, { next: resolve, error: resolve, complete: () => resolve('complete') });
    });
    expect(JSON.stringify(unknownJob)).toMatch(/there is no job 'no-such-job'/);
    const aliases = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: `subscription { ${'a: __typename '.repeat(2000)}}` }, { next: resolve, error: resolve, complete: () => resolve('complete') });
    });
    expect(JSON.stringify(aliases)).toMatch(/too many fields or fragment spreads to validate/);
    const stillThere = await new Promise<unknown>((resolve, reject) => {
      client.subscribe({ query: '{ jobs { totalCount } }' }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(stillThere).toEqual({ data: { jobs: { totalCount: 0 } } });
    await client.dispose();
  });
});

describe('shutdown', () => {
  it('answers events stored before a field existed: a phase start without unitRates, lrSearched, optimizer, schedule or clip has none', async () => {
    const { plan } = compile('use tiny\ndata "imgs"');
    const { store } = stack.service;
    store.insert({ id: 'stored-earlier', name: null, source: 'use tiny', plan: plan!, createdAt: new Date().toISOString() });
    const older = { type: 'phaseStarted', at: new Date().toISOString(), phase: 0, name: 'warmup', epochs: 1, trainable: ['head'], trainableParams: 99, lr: 0.001, cachedFeatures: false, cachedAt: null };
    store.append('stored-earlier', 1, older as ExecutorEvent);
    const r = await gql(stack.url, '{ job(id: "stored-earlier") { events(first: 5) { type ... on PhaseStartedEvent { lr lrSearched unitRates { unit lr } optimizer schedule clip } } } }');
    expect(r.body).toEqual({ data: { job: { events: [{ type: 'phaseStarted', lr: 0.001, lrSearched: null, unitRates: [], optimizer: null, schedule: null, clip: null }] } } });
  });

  it('leaves no socket or listener open on its port, even with clients still connected', async () => {
    const other = await startStack({ service: { prestartWorker: false } });
    const port = other.server.port;
    // Node's own list of what keeps the process alive (undocumented but long-standing), narrowed to this port.
    const open = () =>
      (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => {
        if (h instanceof Server) return (h.address() as AddressInfo | null)?.port === port;
        return h instanceof Socket && (h.localPort === port || h.remotePort === port);
      }).length;
    const client = wsClient(other.wsUrl);
    const updates = new Promise<void>((resolve) => client.subscribe({ query: 'subscription { jobUpdates { id } }' }, { next: () => {}, error: () => resolve(), complete: () => resolve() }));
    const sse = await fetch(other.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: 'subscription { jobUpdates { id } }' }) });
    expect(sse.status).toBe(200);
    expect((await fetch(other.url.replace('/graphql', '/health'))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    // The listener, and both ends of the websocket, the SSE stream and the kept-alive HTTP connection.
    expect(open()).toBeGreaterThanOrEqual(5);
    await other.close();
    await updates;
    await sse.body?.cancel().catch(() => {});
    await client.dispose();
    await new Promise((r) => setTimeout(r, 100));
    expect(open()).toBe(0);
  });
});
