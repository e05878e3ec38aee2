/**
 * Talking to a `tl serve`, and `tl follow JOB --server URL`: shows a job's progress like `tl run`
 * does, from its first stored event, until it ends. `tl submit --follow` follows the same way.
 * A dropped connection is taken up again from the last event seen, for up to two minutes (a
 * server restarting after a crash resumes its running job). Exit codes: 0 the job finished; 1 it
 * failed, or the server is unreachable; 2 usage errors; 130 cancelled, or Ctrl-C (the job runs on).
 */
import type { Command } from 'commander';
import { printable } from '../diagnostics/printable.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import { whyFetchFailed } from '../executor/zoo/fetch-weights.ts';
import { printEvent, printFailure } from './progress.ts';
import { isTerminalEvent } from '../service/types.ts';

const EVENTS = 'subscription Follow($jobId: ID!, $after: Int) { jobEvents(jobId: $jobId, after: $after) { seq attempt data } }';
/** How long a lost connection is retried before following gives up. */
const RECONNECT_MS = 120_000;

/** http://host:4000 and http://host:4000/graphql both mean the GraphQL endpoint. */
export function endpoint(server: string): URL {
  const url = new URL(/^[a-z]+:\/\//i.test(server) ? server : `http://${server}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/graphql';
  return url;
}

/** `--server` as a URL, or a usage error. */
export function serverOption(cmd: Command, server: string): URL {
  try {
    return endpoint(server);
  } catch {
    return cmd.error(`tl: --server must be a URL like http://127.0.0.1:4000, found '${server}'`, { exitCode: 2 });
  }
}

/** A GraphQL request over HTTP; throws with the reason where the server cannot be reached or refuses. */
export async function request<T>(url: URL, token: string | undefined, query: string, variables: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string }[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  }).catch((err: unknown) => {
    throw new Error(`cannot reach ${url.href}: ${whyFetchFailed(err)}; is tl serve running there?`);
  });
  const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: { message: string }[] };
  if (res.status === 401) throw new Error(`the server refused the request (401): ${body.errors?.[0]?.message ?? 'unauthorized'}; pass --token or set TL_API_TOKEN`);
  if (!res.ok && !body.data) throw new Error(`the server answered ${res.status}: ${body.errors?.[0]?.message ?? res.statusText}`);
  return body;
}

/** Why a websocket went: ws's error event keeps the system's code (ECONNREFUSED), a close event its code. */
function whyLost(err: unknown): string {
  const e = err as { code?: unknown; reason?: unknown; message?: unknown; error?: { code?: unknown } };
  if (typeof e.error?.code === 'string') return e.error.code;
  if (typeof e.code === 'number') return `closed with code ${e.code}${typeof e.reason === 'string' && e.reason ? `: ${e.reason}` : ''}`;
  return typeof e.message === 'string' && e.message ? e.message : 'closed';
}

export interface FollowOptions {
  readonly token: string | undefined;
  readonly json: boolean;
  /** The script, for failures printed at their line: a file name and its text. */
  readonly file: string;
  readonly source: string;
}

/**
 * Follows a job's events from the first to its end and returns the exit code. Ctrl-C stops
 * following (exit 130) and says how to follow again; the job runs on.
 */
export async function follow(url: URL, jobId: string, o: FollowOptions): Promise<number> {
  const again = `tl follow ${jobId} --server ${url.href}`;
  const onSigint = () => {
    process.stderr.write(`\nstopped following; job ${jobId} keeps running on the server (follow it again: ${again})\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    return await followEvents(url, jobId, o, again);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function followEvents(url: URL, jobId: string, o: FollowOptions, again: string): Promise<number> {
  const wsUrl = new URL(url);
  wsUrl.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  let last = 0;
  let attempt = 1;
  let end: ExecutorEvent | null = null;
  let lostAt: number | null = null;
  const [{ createClient }, { default: WebSocket }] = await Promise.all([import('graphql-ws'), import('ws')]);
  let tries = 0;
  while (end === null) {
    const client = createClient({ url: wsUrl.href, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: o.token ? { authorization: `Bearer ${o.token}` } : {} });
    client.on('connected', () => {
      if (lostAt !== null) process.stderr.write(`reconnected; continuing after event ${last}\n`);
      lostAt = null;
      tries = 0;
    });
    let why: string;
    try {
      for await (const result of client.iterate<{ jobEvents: { seq: number; attempt: number; data: ExecutorEvent } }>({ query: EVENTS, variables: { jobId, after: last } })) {
        if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join('; '));
        const e = result.data?.jobEvents;
        if (!e || e.seq <= last) continue;
        last = e.seq;
        if (e.attempt > attempt && !o.json) process.stdout.write(`\nattempt ${e.attempt}: the job was restarted or resumed; it continues from its last checkpoint\n`);
        attempt = Math.max(attempt, e.attempt);
        if (o.json) process.stdout.write(`${JSON.stringify(e.data)}\n`);
        else printEvent(e.data, process.stdout);
        end = isTerminalEvent(e.data) ? e.data : null;
      }
      // The server ends the stream after the job's last event, or when it shuts down.
      why = 'the server ended the stream';
    } catch (err) {
      if (err instanceof Error) throw err; // the server's answer, not a lost connection
      const code = (err as { code?: unknown }).code;
      if (code === 4401) throw new Error(`the server refused the websocket: ${(err as { reason?: string }).reason ?? 'unauthorized'}; pass --token or set TL_API_TOKEN`);
      // 44xx: graphql-ws refusing what the client sent; asking again would be refused again.
      if (typeof code === 'number' && code >= 4400 && code < 4500) throw new Error(`the server refused the websocket (${whyLost(err)})`);
      why = whyLost(err);
    } finally {
      await client.dispose();
    }
    if (end !== null) break;
    if (lostAt === null) {
      lostAt = Date.now();
      process.stderr.write(`connection to ${wsUrl.host} lost (${why}); reconnecting to continue after event ${last}...\n`);
    } else if (Date.now() - lostAt > RECONNECT_MS) {
      throw new Error(`lost the connection to ${wsUrl.host} (${why}) and could not get it back in ${RECONNECT_MS / 60_000} minutes; the job may still run there: ${again}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** tries++)));
  }
  if (end.type !== 'jobFailed') return 0;
  if (!o.json) printFailure(o.file, o.source, end, process.stderr);
  return end.cancelled ? 130 : 1;
}

export function registerFollow(program: Command): void {
  program
    .command('follow')
    .description('show the progress of a job on a tl serve, from its start, until it ends')
    .argument('<job-id>', 'the id tl submit printed')
    .requiredOption('--server <url>', 'the server, e.g. http://127.0.0.1:4000')
    .option('--token <token>', 'the API token (default: $TL_API_TOKEN)')
    .option('--json', 'print one JSON event per line')
    .action(async (jobId: string, opts: { server: string; token?: string; json?: boolean }, cmd: Command) => {
      const url = serverOption(cmd, opts.server);
      const token = opts.token ?? process.env.TL_API_TOKEN;
      try {
        const body = await request<{ job: { name: string | null; source: string } | null }>(url, token, 'query($id: ID!) { job(id: $id) { name source } }', { id: jobId });
        if (!body.data) throw new Error(body.errors?.map((e) => e.message).join('; ') ?? 'no answer');
        const job = body.data.job;
        if (!job) throw new Error(`there is no job '${jobId}' on ${url.origin}`);
        process.exitCode = await follow(url, jobId, { token, json: opts.json === true, file: job.name ?? `job ${jobId}`, source: job.source });
      } catch (err) {
        process.stderr.write(`tl follow: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
      }
    });
}
