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

interface Submitted {
  submitJob: { job: { id: string; status: string; queuePosition: number | null } | null; diagnostics: ApiDiagnostic[] };
}

const SUBMIT = `mutation Submit($input: SubmitJobInput!) {
  submitJob(input: $input) { job { id status queuePosition } diagnostics { code severity message line column endLine endColumn } }
}`;

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
        const body = await request<Submitted>(url, token, SUBMIT, { input: { source, ...(opts.name && { name: opts.name }) } });
        if (!body.data) throw new Error(body.errors?.map((e) => e.message).join('; ') ?? 'no answer');
        const { job, diagnostics } = body.data.submitJob;
        const { located, other } = toDiagnostics(diagnostics, source);
        if (located.length) process.stderr.write(`${formatDiagnostics(located, { file, source, color: process.stderr.isTTY === true })}\n`);
        for (const d of other) process.stderr.write(`${file}: ${d.severity === 'ERROR' ? 'error' : 'warning'} ${d.code}: ${printable(d.message)}\n`);
        if (!job) {
          process.exitCode = 1;
          return;
        }
        process.stderr.write(`submitted job ${job.id} (${job.status.toLowerCase()}${job.queuePosition ? `, ${job.queuePosition} in line` : ''})\n`);
        if (!opts.follow) {
          process.stdout.write(`${job.id}\n`);
          return;
        }
        process.exitCode = await follow(url, job.id, { token, json: opts.json === true, file, source });
      } catch (err) {
        process.stderr.write(`tl submit: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
      }
    });
}
