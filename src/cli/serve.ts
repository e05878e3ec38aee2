/** `tl serve`: the GraphQL service (HTTP, websockets, SSE) with its SQLite store and job queue. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { RunningServer } from '../api/server.ts';
import { printable } from '../diagnostics/printable.ts';
import { backendOption } from './usage.ts';
import type { JobService } from '../service/job-service.ts';


interface ServeOptions {
  port: string;
  host: string;
  db: string;
  dataRoot: string;
  runs: string;
  concurrency: string;
  tokenFile?: string;
  publicRead?: boolean;
  backend: string;
  maxQueued: string;
  maxScriptBytes: string;
  maxSubscribers: string;
}

function int(cmd: Command, name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) cmd.error(`tl: ${name} must be an integer of at least ${min}, found '${text}'`, { exitCode: 2 });
  return n;
}

function readToken(cmd: Command, file: string | undefined): string | null {
  if (file === undefined) return process.env.TL_API_TOKEN?.trim() || null;
  let token = '';
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    cmd.error(`tl: cannot read --token-file ${file}: ${(err as Error).message}`, { exitCode: 2 });
  }
  if (!token) cmd.error(`tl: --token-file ${file} is empty`, { exitCode: 2 });
  return token;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the GraphQL service: submit scripts, follow training live; jobs and events kept in SQLite')
    .option('--port <n>', 'port to listen on (0: any free port)', '4000')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--db <file>', 'SQLite file holding jobs and their events', 'tl.db')
    .option('--data-root <dir>', "scripts' data, model and weights paths must resolve inside this folder", '.')
    .option('--runs <dir>', 'where each job keeps its checkpoints and exported model', 'runs')
    .option('--concurrency <n>', 'jobs that train at once', '1')
    .option('--token-file <file>', 'require Authorization: Bearer TOKEN with the token in this file (default: $TL_API_TOKEN)')
    .option('--public-read', 'let queries through without the token; mutations and subscriptions still need it')
    .option('--backend <name>', 'auto, tensorflow, webgpu, wasm or cpu', 'auto')
    .option('--max-queued <n>', 'jobs that may wait in the queue', '100')
    .option('--max-script-bytes <n>', 'largest script accepted', String(64 * 1024))
    .option('--max-subscribers <n>', 'event subscribers per job', '500')
    .action(async (opts: ServeOptions, cmd: Command) => {
      const backend = backendOption(opts.backend);
      const port = int(cmd, '--port', opts.port, 0);
      const token = readToken(cmd, opts.tokenFile);
      const concurrency = int(cmd, '--concurrency', opts.concurrency, 1);
      const limits = {
        maxQueuedJobs: int(cmd, '--max-queued', opts.maxQueued, 0),
        maxScriptBytes: int(cmd, '--max-script-bytes', opts.maxScriptBytes, 1),
        maxSubscribersPerJob: int(cmd, '--max-subscribers', opts.maxSubscribers, 1),
      };
      // Loaded here, not at the top: other tl commands should not pay for the server's modules.
      const [{ JobService }, { startServer }] = await Promise.all([import('../service/job-service.ts'), import('../api/server.ts')]);
      let service: JobService;
      try {
        service = JobService.open({
          dbFile: resolve(opts.db),
          dataRoot: opts.dataRoot,
          runsDir: opts.runs,
          concurrency,
          backend,
          limits,
          // Lines carry job data (file names of skipped images, messages): no control characters to the terminal.
          log: (line) => process.stderr.write(`${printable(line)}\n`),
        });
      } catch (err) {
        return cmd.error(`tl: ${(err as Error).message}`, { exitCode: 2 });
      }
      let server: RunningServer;
      try {
        server = await startServer({ service, port, host: opts.host, auth: { token, publicRead: opts.publicRead === true } });
      } catch (err) {
        await service.stop();
        return cmd.error(`tl: cannot listen on ${opts.host}:${port}: ${(err as Error).message}`, { exitCode: 2 });
      }
      const { resumed, requeued, failed } = service.recovered;
      const out = process.stdout;
      out.write(`tl serve: listening on ${server.url}\n`);
      out.write(`  GraphiQL: open it in a browser; graphql-ws and SSE on the same path; GET /health\n`);
      out.write(`  data root ${resolve(opts.dataRoot)}, runs ${resolve(opts.runs)}, database ${resolve(opts.db)}, concurrency ${opts.concurrency}\n`);
      if (resumed.length + requeued.length + failed.length) out.write(`  recovered: ${resumed.length} running job(s) resume from their checkpoints, ${requeued.length} re-queued, ${failed.length} failed after too many attempts\n`);
      if (token) out.write(`  auth: Bearer token required${opts.publicRead ? ' for mutations and subscriptions (queries are public)' : ''}\n`);
      else out.write(`  auth: none${isLoopback(opts.host) ? '' : ' -- WARNING: anyone who can reach this address can run jobs; set TL_API_TOKEN or --token-file'}\n`);

      let stopping = false;
      const stop = () => {
        if (stopping) process.exit(130);
        stopping = true;
        process.stderr.write('tl serve: stopping; running jobs save a checkpoint and resume on the next start (Ctrl-C again to quit now)\n');
        void server
          .close()
          .then(() => service.stop())
          .then(() => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
          });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
