/**
 * `tl submit FILE --server URL [--follow]`: sends a script to a `tl serve` and, with --follow,
 * shows its progress like `tl run` does, reconnecting with `after` when the connection drops.
 * Exit codes: 0 the job was queued (or, following, finished); 1 refused, failed or unreachable;
 * 2 usage errors; 130 cancelled or interrupted.
 */
import type { Command } from 'commander';
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import { whyFetchFailed } from '../executor/zoo/fetch-weights.ts';
import { printEvent, printFailure } from './progress.ts';
import { readScript } from './read-script.ts';

interface SubmitOptions {
  server: string;
  follow?: boolean;
  token?: string;
  name?: string;
  json?: boolean;
}

interface ApiDiagnostic {
  code: string;
  severity: 'ERROR' | 'WARNING';
  message: string;
  line: number | null;
  column: number | null;
  endLine: number | null;
  endColumn: number | null;
}

interface SubmitResponse {
  data?: { submitJob: { job: { id: string; status: string; queuePosition: number | null } | null; diagnostics: ApiDiagnostic[] } };
  errors?: { message: string }[];
}

const SUBMIT = `mutation Submit($input: SubmitJobInput!) {
  submitJob(input: $input) { job { id status queuePosition } diagnostics { code severity message line column endLine endColumn } }
}`;
const EVENTS = 'subscription Follow($jobId: ID!, $after: Int) { jobEvents(jobId: $jobId, after: $after) { seq attempt data } }';

/** http://host:4000 and http://host:4000/graphql both mean the GraphQL endpoint. */
export function endpoint(server: string): URL {
  const url = new URL(/^[a-z]+:\/\//i.test(server) ? server : `http://${server}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/graphql';
  return url;
}

/** Back from the API's line/column to offsets, so diagnostics print exactly as `tl check` prints them. */
function toDiagnostics(list: readonly ApiDiagnostic[], source: string): { located: Diagnostic[]; other: ApiDiagnostic[] } {
  const starts = [0];
  for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) starts.push(i + 1);
  const offset = (line: number, column: number) => (starts[line - 1] ?? source.length) + column - 1;
  const located: Diagnostic[] = [];
  const other: ApiDiagnostic[] = [];
  for (const d of list) {
    if (d.line === null || d.column === null) other.push(d);
    else {
      const start = offset(d.line, d.column);
      const end = d.endLine !== null && d.endColumn !== null ? offset(d.endLine, d.endColumn) : start + 1;
      located.push({ code: d.code, severity: d.severity === 'ERROR' ? 'error' : 'warning', message: d.message, span: { start, end } });
    }
  }
  return { located, other };
}

async function submit(url: URL, token: string | undefined, input: { source: string; name?: string }): Promise<SubmitResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query: SUBMIT, variables: { input } }),
  }).catch((err: unknown) => {
    throw new Error(`cannot reach ${url.href}: ${whyFetchFailed(err)}; is tl serve running there?`);
  });
  const body = (await res.json().catch(() => ({}))) as SubmitResponse;
  if (res.status === 401) throw new Error(`the server refused the request (401): ${body.errors?.[0]?.message ?? 'unauthorized'}; pass --token or set TL_API_TOKEN`);
  if (!res.ok && !body.data) throw new Error(`the server answered ${res.status}: ${body.errors?.[0]?.message ?? res.statusText}`);
  return body;
}

/** Follows a job's events to its end; returns the exit code. Reconnects up to 5 times, from the last seq seen. */
async function follow(url: URL, token: string | undefined, jobId: string, file: string, source: string, json: boolean): Promise<number> {
  const wsUrl = new URL(url);
  wsUrl.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  let last = 0;
  let attempt = 1;
  let end: ExecutorEvent | null = null;
  const [{ createClient }, { default: WebSocket }] = await Promise.all([import('graphql-ws'), import('ws')]);
  for (let tries = 0; ; tries++) {
    const client = createClient({ url: wsUrl.href, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: token ? { authorization: `Bearer ${token}` } : {} });
    try {
      for await (const result of client.iterate<{ jobEvents: { seq: number; attempt: number; data: ExecutorEvent } }>({ query: EVENTS, variables: { jobId, after: last } })) {
        if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join('; '));
        const e = result.data?.jobEvents;
        if (!e || e.seq <= last) continue;
        last = e.seq;
        if (e.attempt > attempt && !json) process.stdout.write(`\nattempt ${e.attempt}: the job was restarted or resumed; it continues from its last checkpoint\n`);
        attempt = Math.max(attempt, e.attempt);
        if (json) process.stdout.write(`${JSON.stringify(e.data)}\n`);
        else printEvent(e.data, process.stdout);
        end = e.data.type === 'jobFinished' || e.data.type === 'jobFailed' ? e.data : null;
      }
      break;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 4401) throw new Error(`the server refused the websocket: ${(err as { reason?: string }).reason ?? 'unauthorized'}; pass --token or set TL_API_TOKEN`);
      if (err instanceof Error || tries >= 5) throw err instanceof Error ? err : new Error(`the connection to ${wsUrl.host} closed (${String(code)})`);
      process.stderr.write(`connection lost; reconnecting from event ${last}...\n`);
      await new Promise((r) => setTimeout(r, 500 * 2 ** tries));
    } finally {
      await client.dispose();
    }
  }
  if (end?.type === 'jobFailed') {
    if (!json) {
      printFailure(file, source, end, process.stderr);
    }
    return end.cancelled ? 130 : 1;
  }
  return end?.type === 'jobFinished' ? 0 : 1;
}

export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description('send a script to a tl serve; --follow shows its progress like tl run')
    .argument('<file>', 'a .tl script, or - for standard input')
    .requiredOption('--server <url>', 'the server, e.g. http://127.0.0.1:4000')
    .option('--follow', 'stream the job\'s progress until it ends')
    .option('--token <token>', 'the API token (default: $TL_API_TOKEN)')
    .option('--name <name>', 'a label for the job')
    .option('--json', 'with --follow, print one JSON event per line')
    .action(async (file: string, opts: SubmitOptions, cmd: Command) => {
      let source = '';
      try {
        source = readScript(file);
      } catch (err) {
        cmd.error(`tl: ${(err as Error).message}`, { exitCode: 2 });
      }
      let url: URL;
      try {
        url = endpoint(opts.server);
      } catch {
        return cmd.error(`tl: --server must be a URL like http://127.0.0.1:4000, found '${opts.server}'`, { exitCode: 2 });
      }
      const token = opts.token ?? process.env.TL_API_TOKEN;
      try {
        const body = await submit(url, token, { source, ...(opts.name && { name: opts.name }) });
        if (!body.data) throw new Error(body.errors?.map((e) => e.message).join('; ') ?? 'no answer');
        const { job, diagnostics } = body.data.submitJob;
        const { located, other } = toDiagnostics(diagnostics, source);
        if (located.length) process.stderr.write(`${formatDiagnostics(located, { file, source, color: process.stderr.isTTY === true })}\n`);
        for (const d of other) process.stderr.write(`${file}: ${d.severity === 'ERROR' ? 'error' : 'warning'} ${d.code}: ${d.message}\n`);
        if (!job) {
          process.exitCode = 1;
          return;
        }
        process.stderr.write(`submitted job ${job.id} (${job.status.toLowerCase()}${job.queuePosition ? `, ${job.queuePosition} in line` : ''})\n`);
        if (!opts.follow) {
          process.stdout.write(`${job.id}\n`);
          return;
        }
        const onSigint = () => {
          process.stderr.write(`\nstopped following; job ${job.id} keeps running on the server\n`);
          process.exit(130);
        };
        process.once('SIGINT', onSigint);
        process.exitCode = await follow(url, token, job.id, file, source, opts.json === true);
        process.off('SIGINT', onSigint);
      } catch (err) {
        process.stderr.write(`tl submit: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
