/**
 * `tl submit FILE --server URL [--follow]`: sends a script to a `tl serve` and, with --follow,
 * shows its progress like `tl run` does (follow.ts: `tl follow` does the same for any job).
 * Exit codes: 0 the job was queued (or, following, finished); 1 refused, failed or unreachable;
 * 2 usage errors; 130 cancelled or interrupted.
 */
import type { Command } from 'commander';
import { locateDiagnostics, type TlClient } from '../client/tl-client.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import { clientFailure, follow, serverOption } from './follow.ts';
import { readScript } from './read-script.ts';

interface SubmitOptions {
  server: string;
  follow?: boolean;
  token?: string;
  name?: string;
  json?: boolean;
}

export interface SendOptions {
  readonly client: TlClient;
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
  const { client, file, source, task } = o;
  const { job, diagnostics } = task.kind === 'lrFind' ? await client.findLearningRate(source, { ...task, name: o.name }) : await client.submit(source, { name: o.name });
  const { located, other } = locateDiagnostics(diagnostics, source);
  if (located.length) process.stderr.write(`${formatDiagnostics(located, { file, source, color: process.stderr.isTTY === true })}\n`);
  for (const d of other) process.stderr.write(`${file}: ${d.severity === 'ERROR' ? 'error' : 'warning'} ${d.code}: ${printable(d.message)}\n`);
  if (!job) return { code: 1, jobId: null };
  process.stderr.write(`submitted ${task.kind === 'lrFind' ? 'learning-rate search' : 'job'} ${job.id} (${job.status.toLowerCase()}${job.queuePosition ? `, ${job.queuePosition} in line` : ''})\n`);
  if (!o.follow) {
    process.stdout.write(`${job.id}\n`);
    return { code: 0, jobId: job.id };
  }
  return { code: await follow(client, job.id, { json: o.json, file, source }), jobId: job.id };
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
      const client = serverOption(cmd, opts.server, opts.token ?? process.env.TL_API_TOKEN);
      try {
        process.exitCode = (await sendScript({ client, file, source, task: { kind: 'train' }, name: opts.name, follow: opts.follow === true, json: opts.json === true })).code;
      } catch (err) {
        process.stderr.write(`tl submit: ${printable(clientFailure(err))}\n`);
        process.exitCode = 1;
      }
    });
}
