/**
 * A worker process: runs one job's plan with the executor and posts its events to the service,
 * then exits, so whatever a run leaves behind (tensors, native memory, a wedged backend) goes with
 * the process. Started by fork-runner.ts with an IPC channel; never imported by the service.
 */
import type { ExecutorEvent } from '../executor/events.ts';
import type { BackendProbe, FromWorker, RunRequest, ToWorker } from './worker-protocol.ts';

const controller = new AbortController();

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

// The service is gone (killed, even with -9): stop at once, so a restarted service's worker is the
// only one writing this job's checkpoints.
process.on('disconnect', () => process.exit(1));

const executor = import('../executor/run.ts');
executor.then(
  () => send({ type: 'ready' }),
  (err: unknown) => {
    process.stderr.write(`worker: cannot load the executor: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

async function run(request: RunRequest): Promise<void> {
  const { runPlan } = await executor;
  try {
    await runPlan(request.plan, {
      baseDir: request.baseDir,
      runDir: request.runDir,
      backend: request.backend,
      signal: controller.signal,
      ...(request.resume && { resume: true }),
      ...(request.progressEveryMs !== undefined && { progressEveryMs: request.progressEveryMs }),
      onEvent: (event: ExecutorEvent) => void send({ type: 'event', event }),
    });
    await send({ type: 'done', ok: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    await send({ type: 'done', ok: false, code: typeof code === 'string' ? code : 'internal', message: (err as Error).message ?? String(err) });
  }
  process.exit(0);
}

/** Which backends load here. `auto` stops at the first that works, so the rest are tried one by one. */
async function probe(): Promise<void> {
  const { selectBackend, BACKENDS, NoBackendError } = await import('../executor/backends/select.ts');
  const found: BackendProbe[] = [];
  let auto: string | null = null;
  try {
    const choice = await selectBackend('auto');
    auto = choice.name;
    for (const s of choice.skipped) found.push({ name: s.name, available: false, detail: s.why });
    found.push({ name: choice.name, available: true, detail: choice.detail });
  } catch (err) {
    found.length = 0;
    process.stderr.write(`worker: no backend: ${(err as Error).message}\n`);
  }
  for (const name of BACKENDS) {
    if (name === 'auto' || found.some((f) => f.name === name)) continue;
    try {
      const choice = await selectBackend(name);
      found.push({ name, available: true, detail: choice.detail });
    } catch (err) {
      const why = err instanceof NoBackendError ? err.skipped.map((s) => s.why).join('; ') : (err as Error).message;
      found.push({ name, available: false, detail: why });
    }
  }
  await send({ type: 'probed', backends: found, auto });
  process.exit(0);
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'run') void run(message.request);
  else if (message.type === 'cancel') controller.abort();
  else if (message.type === 'probe') void probe();
});
