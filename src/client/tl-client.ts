/**
 * A typed client of a `tl serve`: submit scripts, search learning rates, read and cancel jobs over
 * HTTP, and follow a job's events over graphql-ws, taking a dropped connection up again from the
 * last event seen. `tl submit`, `tl follow`, `tl lr-find --server` and `tl evaluate --server` are this client and a printer;
 * it runs in a browser too (no Node module; the browser's WebSocket), for a UI of your own.
 *
 * @example
 * const tl = new TlClient('http://127.0.0.1:4000', { token: process.env.TL_API_TOKEN });
 * const { job, diagnostics } = await tl.submit(source, { name: 'quickstart' });
 * if (job) for await (const { event } of tl.events(job.id)) if (event.type === 'epochEnded') console.log(event.metrics);
 */
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import { whyFetchFailed } from '../diagnostics/fetch-failure.ts';
import { isTerminalEvent } from '../service/types.ts';

/** A diagnostic as the API gives it: lines and columns (1-based), null for one about no place in the script. */
export interface ApiDiagnostic {
  readonly code: string;
  readonly severity: 'ERROR' | 'WARNING';
  readonly message: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly endLine: number | null;
  readonly endColumn: number | null;
}

export interface Submission {
  /** The queued job; null when the server refused the script (then `diagnostics` says why). */
  readonly job: { readonly id: string; readonly status: string; readonly queuePosition: number | null } | null;
  readonly diagnostics: readonly ApiDiagnostic[];
}

export interface JobSummary {
  readonly id: string;
  readonly name: string | null;
  readonly kind: 'TRAIN' | 'LR_FIND' | 'EVALUATE';
  readonly status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  readonly source: string;
  /** The seq of its latest event; 0 before the first. */
  readonly lastSeq: number;
  readonly exportPath: string | null;
  /** Why it failed or was cancelled. */
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** One of a job's events as the server stores it: `seq` numbers them from 1; `attempt` counts the job's starts. */
export interface JobEvent {
  readonly seq: number;
  readonly attempt: number;
  readonly event: ExecutorEvent;
}

export interface LiveOptions {
  /** How long a lost connection is retried before the stream throws `lost` (default two minutes). */
  readonly reconnectForMs?: number;
  /** Told when the connection drops (and retrying starts), and when it is back. */
  readonly onLost?: (why: string) => void;
  readonly onReconnected?: () => void;
}

export interface FollowOptions {
  /** Start after this seq (default 0: from the job's first event). */
  readonly after?: number;
  /** How long a lost connection is retried before `events` throws (default two minutes). */
  readonly reconnectForMs?: number;
  /** Told when the connection drops (and retrying starts), and when it is back, with the last seq seen. */
  readonly onLost?: (why: string, lastSeq: number) => void;
  readonly onReconnected?: (lastSeq: number) => void;
}

/**
 * Why a request or a stream failed: `unreachable` (no answer at the address), `unauthorized` (a
 * missing or wrong token), `refused` (the server answered with an error: an unknown job, a bad
 * query), `lost` (the connection went and did not come back in time).
 */
export class TlClientError extends Error {
  constructor(
    readonly code: 'unreachable' | 'unauthorized' | 'refused' | 'lost',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TlClientError';
  }
}

const PAYLOAD = '{ job { id status queuePosition } diagnostics { code severity message line column endLine endColumn } }';
/** What `job`, `jobs` and `updates` read of a job (JobSummary). */
const JOB_FIELDS = 'id name kind status source lastSeq exportPath error { code message }';
/** The operations the client sends (test/web/queries.test.ts validates them against schema.graphql). */
export const OPERATIONS = {
  submit: `mutation Submit($input: SubmitJobInput!) { submitJob(input: $input) ${PAYLOAD} }`,
  findLearningRate: `mutation Find($input: FindLearningRateInput!) { findLearningRate(input: $input) ${PAYLOAD} }`,
  evaluate: `mutation Evaluate($input: EvaluateJobInput!) { evaluateJob(input: $input) ${PAYLOAD} }`,
  cancel: `mutation Cancel($id: ID!) { cancelJob(id: $id) ${PAYLOAD} }`,
  resume: `mutation Resume($id: ID!) { resumeJob(id: $id) ${PAYLOAD} }`,
  job: `query Job($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`,
  jobs: `query Jobs($status: JobStatus, $first: Int, $after: String) { jobs(status: $status, first: $first, after: $after) { edges { node { ${JOB_FIELDS} } } pageInfo { hasNextPage endCursor } totalCount } }`,
  events: 'subscription Follow($jobId: ID!, $after: Int) { jobEvents(jobId: $jobId, after: $after) { seq attempt data } }',
  updates: `subscription Updates { jobUpdates { ${JOB_FIELDS} } }`,
} as const;

/** http://host:4000 and http://host:4000/graphql (and host:4000) all mean the GraphQL endpoint. */
export function endpoint(server: string): URL {
  const url = new URL(/^[a-z]+:\/\//i.test(server) ? server : `http://${server}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/graphql';
  return url;
}

export class TlClient {
  /** The GraphQL endpoint. */
  readonly url: URL;
  private readonly token: string | undefined;

  /** Throws a TypeError when `server` is not a URL. */
  constructor(server: string | URL, options: { readonly token?: string | undefined } = {}) {
    this.url = endpoint(String(server));
    this.token = options.token || undefined;
  }

  /** A GraphQL request over HTTP: the answer's data, or an Error with the server's reasons (or why it could not be reached). */
  async query<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const body = await this.request<T>(query, variables);
    if (body.errors?.length || !body.data) throw new TlClientError('refused', body.errors?.map((e) => e.message).join('; ') || 'the server sent no data');
    return body.data;
  }

  /** Queues a script for training. */
  async submit(source: string, options: { readonly name?: string | undefined } = {}): Promise<Submission> {
    const data = await this.query<{ submitJob: Submission }>(OPERATIONS.submit, { input: { source, ...(options.name && { name: options.name }) } });
    return data.submitJob;
  }

  /** Queues a learning-rate search of a phase (default: the first that trains); its end is an `lrFound` event. */
  async findLearningRate(source: string, options: { readonly phase?: string | undefined; readonly fromStart?: boolean; readonly steps?: number; readonly name?: string | undefined } = {}): Promise<Submission> {
    const { phase, fromStart, steps, name } = options;
    const input = { source, ...(name && { name }), ...(phase !== undefined && { phase }), ...(fromStart !== undefined && { fromStart }), ...(steps !== undefined && { steps }) };
    return (await this.query<{ findLearningRate: Submission }>(OPERATIONS.findLearningRate, { input })).findLearningRate;
  }

  /**
   * Queues the scoring of the model a succeeded job exported on labelled images under the server's
   * data root (class folders, a csv manifest or an IDX file), as `tl evaluate` scores one; its end
   * is an `evaluated` event with the evaluation. `job` is null, and `diagnostics` says why
   * (`job-not-found`, `no-model`, `path-outside-data-root`, `bad-worst`, `queue-full`), when it was not queued.
   */
  async evaluate(jobId: string, data: string, options: { readonly worst?: number; readonly tta?: boolean; readonly name?: string | undefined } = {}): Promise<Submission> {
    const { worst, tta, name } = options;
    const input = { job: jobId, data, ...(name && { name }), ...(worst !== undefined && { worst }), ...(tta !== undefined && { tta }) };
    return (await this.query<{ evaluateJob: Submission }>(OPERATIONS.evaluate, { input })).evaluateJob;
  }

  /**
   * Cancels a job: a queued one at once, a running one after its current batch (its events then end
   * with a `jobFailed` whose `cancelled` is true). `job` is null, and `diagnostics` says why
   * (`job-not-found`, `job-not-cancellable`), when nothing was cancelled.
   */
  async cancel(jobId: string): Promise<Submission> {
    return (await this.query<{ cancelJob: Submission }>(OPERATIONS.cancel, { id: jobId })).cancelJob;
  }

  /**
   * Queues a failed or cancelled job again; it continues from its last checkpoint where it has one.
   * `job` is null, and `diagnostics` says why (`job-not-found`, `job-not-resumable`, `queue-full`), when it was not.
   */
  async resume(jobId: string): Promise<Submission> {
    return (await this.query<{ resumeJob: Submission }>(OPERATIONS.resume, { id: jobId })).resumeJob;
  }

  /** A job as the server holds it, or null where there is none by that id. (Other fields: `query`, schema.graphql.) */
  async job(jobId: string): Promise<JobSummary | null> {
    return (await this.query<{ job: JobSummary | null }>(OPERATIONS.job, { id: jobId })).job;
  }

  /**
   * A job's events, from the first after `options.after`, until the event that ends it
   * (`jobFinished`, `jobFailed`, `lrFound`, `evaluated`). A dropped connection is taken up again from the last
   * event seen, with no gap and no repeat; the server's refusals (an unknown job, a bad token) throw.
   */
  async *events(jobId: string, options: FollowOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
    let last = options.after ?? 0;
    const results = this.live<{ jobEvents: { seq: number; attempt: number; data: ExecutorEvent } }>(OPERATIONS.events, () => ({ jobId, after: last }), {
      ...(options.reconnectForMs !== undefined && { reconnectForMs: options.reconnectForMs }),
      onLost: (why) => options.onLost?.(why, last),
      onReconnected: () => options.onReconnected?.(last),
    });
    try {
      for await (const { jobEvents: e } of results) {
        if (e.seq <= last) continue;
        last = e.seq;
        yield { seq: e.seq, attempt: e.attempt, event: e.data };
        if (isTerminalEvent(e.data)) return;
      }
    } catch (err) {
      if (err instanceof TlClientError && err.code === 'lost') throw new TlClientError('lost', `${err.message}; the job may still run there`, { cause: err });
      throw err;
    }
  }

  /**
   * Every job, each time its status changes (queued, running, finished, failed, cancelled), as it
   * happens, until you stop iterating. Changes while the connection was down are not replayed: read
   * `jobs()` again when `onReconnected` says it is back.
   */
  async *updates(options: LiveOptions = {}): AsyncGenerator<JobSummary, void, undefined> {
    for await (const { jobUpdates } of this.live<{ jobUpdates: JobSummary }>(OPERATIONS.updates, () => ({}), options)) yield jobUpdates;
  }

  /** A page of jobs, newest first (`first` at most 100, default 20); `next` is the `after` of the page that follows, null on the last. */
  async jobs(options: { readonly status?: JobSummary['status']; readonly first?: number; readonly after?: string } = {}): Promise<{ readonly jobs: JobSummary[]; readonly totalCount: number; readonly next: string | null }> {
    type Page = { edges: { node: JobSummary }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null }; totalCount: number };
    const { jobs: page } = await this.query<{ jobs: Page }>(OPERATIONS.jobs, { ...options });
    return { jobs: page.edges.map((e) => e.node), totalCount: page.totalCount, next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null };
  }

  /**
   * A subscription's results, taken up again after a lost connection (with `variables()` asked
   * anew, so a stream can resume where it was), until the caller stops iterating. The server's
   * refusals throw; a connection not back within `reconnectForMs` throws `lost`.
   */
  private async *live<T>(query: string, variables: () => Record<string, unknown>, options: LiveOptions): AsyncGenerator<T, void, undefined> {
    const wsUrl = new URL(this.url);
    wsUrl.protocol = this.url.protocol === 'https:' ? 'wss:' : 'ws:';
    const reconnectForMs = options.reconnectForMs ?? 120_000;
    let lostAt: number | null = null;
    let tries = 0;
    const [{ createClient }, WebSocket] = await Promise.all([import('graphql-ws'), webSocketClass()]);
    for (;;) {
      const client = createClient({ url: wsUrl.href, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: this.token ? { authorization: `Bearer ${this.token}` } : {} });
      client.on('connected', () => {
        if (lostAt !== null) options.onReconnected?.();
        lostAt = null;
        tries = 0;
      });
      let why: string;
      try {
        for await (const result of client.iterate<T>({ query, variables: variables() })) {
          if (result.errors?.length) throw new TlClientError('refused', result.errors.map((e) => e.message).join('; '));
          if (result.data) yield result.data as T;
        }
        // Ended by the server: after a job's last event, or when it shuts down.
        why = 'the server ended the stream';
      } catch (err) {
        if (err instanceof Error) throw err; // the server's answer (above), not a lost connection
        const code = (err as { code?: unknown }).code;
        if (code === 4401) throw new TlClientError('unauthorized', `the server refused the websocket: ${(err as { reason?: string }).reason ?? 'unauthorized'}`);
        // 44xx: graphql-ws refusing what the client sent; asking again would be refused again.
        if (typeof code === 'number' && code >= 4400 && code < 4500) throw new TlClientError('refused', `the server refused the websocket (${whyLost(err)})`);
        why = whyLost(err);
      } finally {
        await client.dispose();
      }
      if (lostAt === null) {
        lostAt = Date.now();
        options.onLost?.(why);
      } else if (Date.now() - lostAt > reconnectForMs) {
        throw new TlClientError('lost', `lost the connection to ${wsUrl.host} (${why}) and could not get it back in ${Math.round(reconnectForMs / 1000)} s`);
      }
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** tries++)));
    }
  }

  /** The raw answer (data and errors both, as GraphQL allows); throws where the server cannot be reached or refuses the request itself. */
  async request<T>(query: string, variables: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string }[] }> {
    const url = this.url;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(this.token && { authorization: `Bearer ${this.token}` }) },
      body: JSON.stringify({ query, variables }),
    }).catch((err: unknown) => {
      throw new TlClientError('unreachable', `cannot reach ${url.href}: ${whyFetchFailed(err)}; is tl serve running there?`, { cause: err });
    });
    const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: { message: string }[] };
    if (res.status === 401) throw new TlClientError('unauthorized', `the server refused the request (401): ${body.errors?.[0]?.message ?? 'unauthorized'}`);
    if (!res.ok && !body.data) throw new TlClientError('refused', `the server answered ${res.status}: ${body.errors?.[0]?.message ?? res.statusText}`);
    return body;
  }
}

/** In Node the ws package (what TL's tests run); in a browser the browser's own WebSocket. */
async function webSocketClass(): Promise<unknown> {
  const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  return inNode ? (await import('ws')).default : globalThis.WebSocket;
}

/** Why a websocket went: ws's error event keeps the system's code (ECONNREFUSED), a close event its code. */
function whyLost(err: unknown): string {
  const e = err as { code?: unknown; reason?: unknown; message?: unknown; error?: { code?: unknown } };
  if (typeof e.error?.code === 'string') return e.error.code;
  if (typeof e.code === 'number') return `closed with code ${e.code}${typeof e.reason === 'string' && e.reason ? `: ${e.reason}` : ''}`;
  return typeof e.message === 'string' && e.message ? e.message : 'closed';
}

/**
 * The API's diagnostics back to offsets into the script, so that they print as `tl check` prints
 * them (formatDiagnostics); those about no place in the script are `other`.
 */
export function locateDiagnostics(list: readonly ApiDiagnostic[], source: string): { located: Diagnostic[]; other: ApiDiagnostic[] } {
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
