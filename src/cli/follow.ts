/**
 * Talking to a `tl serve`, and `tl follow JOB --server URL`: shows a job's progress like `tl run`
 * does, from its first stored event, until it ends. `tl submit --follow` follows the same way.
 * A dropped connection is taken up again from the last event seen, for up to two minutes (a
 * server restarting after a crash resumes its running job). Exit codes: 0 the job finished; 1 it
 * failed, or the server is unreachable; 2 usage errors; 130 cancelled, or Ctrl-C (the job runs on).
 */
import type { Command } from 'commander';
import { TlClient, TlClientError } from '../client/tl-client.ts';
import { printable } from '../diagnostics/printable.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import { printEvent, printFailure } from './progress.ts';

/** A client's failure as the CLI says it: a refused token gets how to pass one. */
export function clientFailure(err: unknown): string {
  const message = (err as Error).message;
  return err instanceof TlClientError && err.code === 'unauthorized' ? `${message}; pass --token or set TL_API_TOKEN` : message;
}

/** `--server` as a client of that server, or a usage error. */
export function serverOption(cmd: Command, server: string, token: string | undefined): TlClient {
  try {
    return new TlClient(server, { token });
  } catch {
    return cmd.error(`tl: --server must be a URL like http://127.0.0.1:4000, found '${server}'`, { exitCode: 2 });
  }
}

export interface FollowOptions {
  readonly json: boolean;
  /** The script, for failures printed at their line: a file name and its text. */
  readonly file: string;
  readonly source: string;
  /** An evaluation's report with its confusion matrix. */
  readonly matrix?: boolean;
}

/**
 * Follows a job's events from the first to its end and returns the exit code. Ctrl-C stops
 * following (exit 130) and says how to follow again; the job runs on.
 */
export async function follow(client: TlClient, jobId: string, o: FollowOptions): Promise<number> {
  const again = `tl follow ${jobId} --server ${client.url.href}`;
  const onSigint = () => {
    process.stderr.write(`\nstopped following; job ${jobId} keeps running on the server (follow it again: ${again})\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    let attempt = 1;
    let end: ExecutorEvent | null = null;
    const events = client.events(jobId, {
      onLost: (why, last) => process.stderr.write(`connection to ${client.url.host} lost (${why}); reconnecting to continue after event ${last}...\n`),
      onReconnected: (last) => process.stderr.write(`reconnected; continuing after event ${last}\n`),
    });
    try {
      for await (const e of events) {
        if (e.attempt > attempt && !o.json) process.stdout.write(`\nattempt ${e.attempt}: the job was restarted or resumed; it continues from its last checkpoint\n`);
        attempt = Math.max(attempt, e.attempt);
        if (o.json) process.stdout.write(`${JSON.stringify(e.event)}\n`);
        else printEvent(e.event, process.stdout, process.stderr, { matrix: o.matrix === true });
        end = e.event;
      }
    } catch (err) {
      if (err instanceof TlClientError && err.code === 'lost') throw new TlClientError('lost', `${err.message}: ${again}`, { cause: err });
      throw err;
    }
    if (end?.type !== 'jobFailed') return 0;
    if (!o.json) printFailure(o.file, o.source, end, process.stderr);
    return end.cancelled ? 130 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
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
      const client = serverOption(cmd, opts.server, opts.token ?? process.env.TL_API_TOKEN);
      try {
        const job = await client.job(jobId);
        if (!job) throw new Error(`there is no job '${jobId}' on ${client.url.origin}`);
        process.exitCode = await follow(client, jobId, { json: opts.json === true, file: job.name ?? `job ${jobId}`, source: job.source });
      } catch (err) {
        process.stderr.write(`tl follow: ${printable(clientFailure(err))}\n`);
        process.exitCode = 1;
      }
    });
}
