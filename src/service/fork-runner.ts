/**
 * Runs each job in its own child process (child_process.fork of worker-entry), so a training step
 * never blocks the API's event loop and a crash or leak never outlives its job. A spare worker is
 * started ahead of need: importing the executor and tfjs takes seconds.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { BackendReport, JobRunner, RunHooks, RunOutcome } from './job-runner.ts';
import type { FromWorker, RunRequest, ToWorker } from './worker-protocol.ts';

export interface ForkRunnerOptions {
  /** The worker script and node flags (default: worker-entry beside this module, through tsx when that is TypeScript). */
  readonly entry?: { readonly path: string; readonly execArgv?: readonly string[] };
  /** Where the worker's stdout and stderr lines go (tfjs notices, warnings). */
  readonly log?: (line: string) => void;
  /** Keep one started worker waiting for the next job (default true). */
  readonly spare?: boolean;
  /** How long a cancelled run may take to stop before its process is killed. */
  readonly cancelGraceMs?: number;
  readonly probeTimeoutMs?: number;
  /** The wasm backend's threads in each job's process (its TL_THREADS; default: the service's own environment decides). */
  readonly threads?: number;
}

interface Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

/** Running from TypeScript sources (tests, tsx): the worker needs the same loader. */
function workerEntry(): { path: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(fromSource ? './worker-entry.ts' : './worker-entry.js', import.meta.url));
  return { path, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}

export class ForkRunner implements JobRunner {
  private spare: Worker | null = null;
  private readonly live = new Set<Worker>();
  private closed = false;

  constructor(private readonly options: ForkRunnerOptions = {}) {}

  warm(): void {
    if (!this.closed && this.options.spare !== false && !this.spareAlive()) this.spare = this.start();
  }

  run(request: RunRequest, hooks: RunHooks): Promise<RunOutcome> {
    const worker = this.spareAlive() ? this.spare! : this.start();
    this.spare = null;
    this.warm();
    const { child } = worker;
    return new Promise<RunOutcome>((resolve) => {
      let outcome: RunOutcome | null = null;
      let killTimer: NodeJS.Timeout | null = null;
      child.on('message', (m: FromWorker) => {
        if (m.type === 'event') hooks.onEvent(m.event);
        else if (m.type === 'done') outcome = m.ok ? { kind: 'finished' } : { kind: 'failed', code: m.code, message: m.message };
      });
      const onAbort = () => {
        this.send(child, { type: 'cancel' });
        killTimer = setTimeout(() => child.kill('SIGKILL'), this.options.cancelGraceMs ?? 30_000);
      };
      if (hooks.signal.aborted) onAbort();
      else hooks.signal.addEventListener('abort', onAbort, { once: true });
      void worker.exited.then(() => {
        if (killTimer) clearTimeout(killTimer);
        hooks.signal.removeEventListener('abort', onAbort);
        const how = child.signalCode ? `was killed (${child.signalCode})` : `exited with code ${child.exitCode}`;
        resolve(outcome ?? { kind: 'crashed', message: `the worker process ${how} before the job ended` });
      });
      this.send(child, { type: 'run', request });
    });
  }

  probe(): Promise<BackendReport> {
    const worker = this.start();
    return new Promise<BackendReport>((resolve) => {
      const timer = setTimeout(() => worker.child.kill('SIGKILL'), this.options.probeTimeoutMs ?? 120_000);
      let report: BackendReport = { backends: [], auto: null };
      worker.child.on('message', (m: FromWorker) => {
        if (m.type === 'probed') report = { backends: m.backends, auto: m.auto };
      });
      void worker.exited.then(() => {
        clearTimeout(timer);
        resolve(report);
      });
      this.send(worker.child, { type: 'probe' });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.spare = null;
    const all = [...this.live];
    for (const w of all) w.child.kill('SIGKILL');
    await Promise.all(all.map((w) => w.exited));
  }

  private spareAlive(): boolean {
    return this.spare !== null && this.spare.child.exitCode === null && this.spare.child.signalCode === null;
  }

  private start(): Worker {
    const { path, execArgv = [] } = this.options.entry ?? workerEntry();
    const env = this.options.threads === undefined ? process.env : { ...process.env, TL_THREADS: String(this.options.threads) };
    const child = fork(path, [], { execArgv: [...execArgv], env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    const log = this.options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    for (const stream of [child.stdout, child.stderr]) {
      // Always drain the pipes: a full pipe would block the worker.
      if (stream) createInterface({ input: stream }).on('line', (line) => line.trim() && log(`worker ${child.pid}: ${line}`));
    }
    // IPC errors (the child already gone) surface as its exit; nothing else to do here.
    child.on('error', () => {});
    // 'close', not 'exit': it comes after the IPC channel has delivered the worker's last messages.
    const worker: Worker = { child, exited: new Promise<void>((resolve) => child.once('close', () => resolve())) };
    this.live.add(worker);
    void worker.exited.then(() => this.live.delete(worker));
    return worker;
  }

  private send(child: ChildProcess, message: ToWorker): void {
    // A send error means the worker is gone; its exit reports that.
    if (child.connected) child.send(message, () => {});
  }
}
