/**
 * Shared by the service and API tests: a data root of real images, a real service and server on
 * port 0 over a real SQLite file, and real clients (fetch, graphql-ws over ws, graphql-sse).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../src/api/server.ts';
import type { AuthOptions } from '../../src/api/auth.ts';
import { ForkRunner } from '../../src/service/fork-runner.ts';
import { JobService, type ServiceOptions } from '../../src/service/job-service.ts';

export const root = join(import.meta.dirname, '..', '..');

/**
 * True when dist/ (what `npm run build`, the first step of npm test, makes) is at least as new as
 * every source file. Workers and spawned servers then run the compiled code, which starts several
 * times faster than the sources through tsx on this project's 2-core machine; otherwise they run
 * the sources. Either way they run the code as it is now.
 */
export const compiledIsFresh: boolean = (() => {
  const fresh = (dir: string): boolean =>
    readdirSync(join(root, dir), { withFileTypes: true }).every((e) => {
      const rel = join(dir, e.name);
      if (e.isDirectory()) return fresh(rel);
      if (!e.name.endsWith('.ts')) return true;
      const built = statSync(join(root, 'dist', rel.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
      return built !== undefined && built.mtimeMs >= statSync(join(root, rel)).mtimeMs;
    });
  return fresh('src');
})();

/** The real CLI's node arguments: bin/tl.js (compiled) when dist/ is fresh, else the sources through tsx. */
export const TL_CLI: readonly string[] = compiledIsFresh ? [join(root, 'bin/tl.js')] : ['--import', import.meta.resolve('tsx'), join(root, 'test/service/fixtures/tl.ts')];

/** The worker the service forks: compiled when fresh, else the sources (ForkRunner's default). */
export function testRunner(log: (line: string) => void): ForkRunner {
  return new ForkRunner({ log, ...(compiledIsFresh && { entry: { path: join(root, 'dist/src/service/worker-entry.js') } }) });
}

/** A fresh temp folder with `data/imgs/{bag,boot,coat}/` holding `perClass` real Fashion-MNIST PNGs each. */
export function makeWorkspace(perClass = 6): { dir: string; dataRoot: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tl-svc-'));
  const dataRoot = join(dir, 'data');
  for (const cls of ['bag', 'boot', 'coat']) {
    const from = join(root, 'examples/data/fashion-mini/train', cls);
    mkdirSync(join(dataRoot, 'imgs', cls), { recursive: true });
    for (const f of readdirSync(from).sort().slice(0, perClass)) copyFileSync(join(from, f), join(dataRoot, 'imgs', cls, f));
  }
  return { dir, dataRoot };
}

/** A tiny job: the whole network trains (no cached features), a checkpoint every epoch. */
export function tinyScript(epochs: number, extra = ''): string {
  return `use tiny input 32\ndata "imgs" split 0.25\nfreeze none\nepochs ${epochs}\nbatch 4\ncheckpoint every 1\n${extra}`;
}

export interface Stack {
  readonly service: JobService;
  readonly server: RunningServer;
  readonly url: string;
  readonly wsUrl: string;
  readonly dir: string;
  readonly dataRoot: string;
  readonly logs: string[];
  close(): Promise<void>;
}

export async function startStack(options: { auth?: AuthOptions; service?: Partial<ServiceOptions>; workspace?: { dir: string; dataRoot: string } } = {}): Promise<Stack> {
  const ws = options.workspace ?? makeWorkspace();
  const logs: string[] = [];
  const service = JobService.open({
    dbFile: join(ws.dir, 'tl.db'),
    dataRoot: ws.dataRoot,
    runsDir: join(ws.dir, 'runs'),
    backend: 'wasm',
    log: (line) => logs.push(line),
    runner: testRunner((line) => logs.push(line)),
    ...options.service,
  });
  const server = await startServer({ service, port: 0, host: '127.0.0.1', auth: options.auth ?? { token: null, publicRead: false } });
  return {
    service,
    server,
    url: server.url,
    wsUrl: server.url.replace(/^http/, 'ws'),
    ...ws,
    logs,
    close: async () => {
      await server.close();
      await service.stop({ graceMs: 5000 });
    },
  };
}

export interface GqlResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test responses are checked by assertions, not types
export async function gql<T = any>(url: string, query: string, variables?: Record<string, unknown>, token?: string): Promise<GqlResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as GqlResponse<T>['body'] };
}

export function wsClient(wsUrl: string, token?: string): Client {
  return createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: token ? { authorization: `Bearer ${token}` } : {} });
}

export interface EventRow {
  readonly seq: number;
  readonly type: string;
  readonly attempt: number;
  readonly data: { readonly type: string; readonly [k: string]: unknown };
  readonly epoch?: number;
}

export const EVENT_FIELDS = 'seq type attempt data ... on EpochEndedEvent { epoch } ... on CheckpointSavedEvent { epoch reason } ... on JobFailedEvent { code cancelled }';
export const JOB_EVENTS = `subscription($jobId: ID!, $after: Int) { jobEvents(jobId: $jobId, after: $after) { ${EVENT_FIELDS} } }`;

/**
 * Subscribes to a job's events until the stream completes, or until `stopWhen` says so (then it
 * unsubscribes). Rejects on a GraphQL error or a closed socket.
 */
export async function followJob(client: Client, jobId: string, options: { after?: number; stopWhen?: (e: EventRow, all: EventRow[]) => boolean } = {}): Promise<EventRow[]> {
  const events: EventRow[] = [];
  const iterator = client.iterate<{ jobEvents: EventRow }>({ query: JOB_EVENTS, variables: { jobId, after: options.after ?? 0 } });
  for await (const result of iterator) {
    if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join('; '));
    const e = result.data!.jobEvents;
    events.push(e);
    if (options.stopWhen?.(e, events)) break;
  }
  return events;
}

export const SUBMIT = 'mutation($source: String!, $name: String) { submitJob(input: { source: $source, name: $name }) { job { id status queuePosition } diagnostics { code severity message line column } } }';

export async function submitJob(url: string, source: string, token?: string): Promise<string> {
  const r = await gql(url, SUBMIT, { source }, token);
  const id = r.body.data?.submitJob?.job?.id as string | undefined;
  if (!id) throw new Error(`submit refused: ${JSON.stringify(r.body)}`);
  return id;
}

/** seq 1..n with no gap and no duplicate. */
export function seqs(events: readonly EventRow[]): number[] {
  return events.map((e) => e.seq);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
