/**
 * `tl submit FILE --server URL [--follow]`: sends a script to a `tl serve` and, with --follow,
 * shows its progress like `tl run` does (follow.ts: `tl follow` does the same for any job).
 * Exit codes: 0 the job was queued (or, following, finished); 1 refused, failed or unreachable;
 * 2 usage errors; 130 cancelled or interrupted.
 */
import type { Command } from 'commander';
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import { follow, request, serverOption } from './follow.ts';
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

type Submitted = Record<string, { job: { id: string; status: string; queuePosition: number | null } | null; diagnostics: ApiDiagnostic[] }>;

const PAYLOAD = '{ job { id status queuePosition } diagnostics { code severity message line column endLine endColumn } }';
const SUBMIT = `mutation Submit($input: SubmitJobInput!) { submitJob(input: $input) ${PAYLOAD} }`;
const FIND = `mutation Find($input: FindLearningRateInput!) { findLearningRate(input: $input) ${PAYLOAD} }`;

export interface SendOptions {
  readonly url: URL;
  readonly token: string | undefined;
  readonly file: string;
  readonly source: string;
  /** What to do with the script: train it (submitJob), or search a phase's learning rate. */
  readonly task: { readonly kind: 'train' } | { readonly kind: 'lrFind'; readonly phase?: string; readonly fromStart: boolean; readonly steps: number };
  readonly name?: string | undefined;
  readonly follow: boolean;
  readonly json: boolean;
}

/**
 * Sends a script to a server as a job: prints the diagnostics as `tl check` would and the job's id,
 * then, following, its progress as `tl run` (or `tl lr-find`) prints it. Returns the exit code, and
 * the job's id where it was queued.
 */
export async function sendScript(o: SendOptions): Promise<{ readonly code: number; readonly jobId: string | null }> {
  const { url, token, file, source, task } = o;
  const input = { source, ...(o.name && { name: o.name }), ...(task.kind === 'lrFind' && { fromStart: task.fromStart, steps: task.steps, ...(task.phase !== undefined && { phase: task.phase }) }) };
  const [mutation, field] = task.kind === 'lrFind' ? [FIND, 'findLearningRate'] : [SUBMIT, 'submitJob'];
  const body = await request<Submitted>(url, token, mutation, { input });
  if (!body.data) throw new Error(body.errors?.map((e) => e.message).join('; ') ?? 'no answer');
  const { job, diagnostics } = body.data[field]!;
  const { located, other } = toDiagnostics(diagnostics, source);
  if (located.length) process.stderr.write(`${formatDiagnostics(located, { file, source, color: process.stderr.isTTY === true })}\n`);
  for (const d of other) process.stderr.write(`${file}: ${d.severity === 'ERROR' ? 'error' : 'warning'} ${d.code}: ${printable(d.message)}\n`);
  if (!job) return { code: 1, jobId: null };
  process.stderr.write(`submitted ${task.kind === 'lrFind' ? 'learning-rate search' : 'job'} ${job.id} (${job.status.toLowerCase()}${job.queuePosition ? `, ${job.queuePosition} in line` : ''})\n`);
  if (!o.follow) {
    process.stdout.write(`${job.id}\n`);
    return { code: 0, jobId: job.id };
  }
  return { code: await follow(url, job.id, { token, json: o.json, file, source }), jobId: job.id };
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
      const url = serverOption(cmd, opts.server);
      const token = opts.token ?? process.env.TL_API_TOKEN;
      try {
        process.exitCode = (await sendScript({ url, token, file, source, task: { kind: 'train' }, name: opts.name, follow: opts.follow === true, json: opts.json === true })).code;
      } catch (err) {
        process.stderr.write(`tl submit: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
      }
    });
}
